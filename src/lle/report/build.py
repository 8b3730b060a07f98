"""`write_report`: the whole report folder from the runs under some paths."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lle.report.collect import leaderboard, ranking_psnr
from lle.report.page import write_html
from lle.report.plots import plot_per_image_psnr, plot_psnr_vs_macs
from lle.report.tables import write_csv, write_markdown

TABLES = ("index.html", "leaderboard.md", "leaderboard.csv")
# The figures, each drawn only where some row has something to show in it.
FIGURES = ("psnr_vs_macs.png", "per_image_psnr.png")
# Everything `write_report` may leave in its output folder (besides grids/), in the order the CLI lists them.
FILES = (*TABLES, *FIGURES)
NO_MATPLOTLIB = "plots skipped: matplotlib is not installed (pip install 'lle[report]' adds them)"


@dataclass
class Report:
    rows: list[dict[str, Any]]
    files: list[str]  # written into the output folder, in FILES order
    notes: list[str] = field(default_factory=list)  # why a figure was left out


def _figures(rows: list[dict[str, Any]]) -> tuple[dict[str, Callable], list[str]]:
    """{file: plot function} of the figures with something to show, and a note for each one left out."""
    figures: dict[str, Callable] = {}
    notes = []
    if any((r.get("gmacs_256") or 0) > 0 and ranking_psnr(r) > -math.inf for r in rows):
        figures["psnr_vs_macs.png"] = plot_psnr_vs_macs
    else:  # classical methods alone sit at 0 MACs: a figure of one vertical line says nothing
        notes.append(
            "psnr_vs_macs.png left out: no finished run of a network has a MAC count "
            "(classical methods count 0; older runs need their config.yaml)"
        )
    if any(r.get("per_image_csv") for r in rows):
        figures["per_image_psnr.png"] = plot_per_image_psnr
    else:
        notes.append("per_image_psnr.png left out: no run wrote a per_image.csv")
    return figures, notes


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401 — the `report` extra; lle-report works without it
    except ImportError:
        return False
    return True


def write_report(paths: Iterable[str | Path], out: Path, bench_json: str | Path | None = None) -> Report:
    """Write the tables, the page and the figures there is something to draw (and matplotlib to draw them) into
    `out`; FileNotFoundError when there is no run."""
    paths = list(paths)
    rows = leaderboard(paths, bench_json)
    if not rows:
        raise FileNotFoundError(f"no runs (metrics.json) under {', '.join(map(str, paths))}")
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "leaderboard.csv")
    write_markdown(rows, out / "leaderboard.md")
    figures, notes = _figures(rows)
    if figures and not matplotlib_available():
        figures, notes = {}, [NO_MATPLOTLIB]
    for name, plot in figures.items():
        plot(rows, out / name)
    write_html(rows, out, figures=list(figures))
    return Report(rows, [f for f in FILES if f in TABLES or f in figures], notes)
