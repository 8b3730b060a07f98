"""`write_report`: the whole report folder from the runs under some paths."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lle.report.collect import leaderboard
from lle.report.page import write_html
from lle.report.plots import plot_per_image_psnr, plot_psnr_vs_macs
from lle.report.tables import write_csv, write_markdown

# What `write_report` leaves in its output folder (besides grids/), in the order the CLI lists them.
FILES = ("index.html", "leaderboard.md", "leaderboard.csv", "psnr_vs_macs.png", "per_image_psnr.png")


def write_report(paths: Iterable[str | Path], out: Path, bench_json: str | Path | None = None) -> list[dict[str, Any]]:
    """Write FILES into `out` and return the leaderboard rows; FileNotFoundError when there is no run."""
    rows = leaderboard(paths, bench_json)
    if not rows:
        raise FileNotFoundError(f"no runs (metrics.json) under {', '.join(map(str, paths))}")
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "leaderboard.csv")
    write_markdown(rows, out / "leaderboard.md")
    plot_psnr_vs_macs(rows, out / "psnr_vs_macs.png")
    plot_per_image_psnr(rows, out / "per_image_psnr.png")
    write_html(rows, out)
    return rows
