"""The report's figures: `psnr_vs_macs.png` (quality against compute) and `per_image_psnr.png` (spread)."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

from lle.atomic import atomic_path
from lle.metrics import keys
from lle.models.complexity import MACS_SIZE
from lle.report.collect import ranking_psnr


def agg_figure(width: float = 7.0, height: float = 4.5):
    """A figure and its axes on the Agg canvas (the object-oriented API: no pyplot state, no display needed).
    Raises ImportError without matplotlib (the `report` extra)."""
    # matplotlib's first import on a machine builds its font cache and, when that takes over 5 s, logs a warning
    # that tells a user nothing: silenced at that one logger.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save_png(fig, path: Path) -> None:
    # The temporary name ends in ".partial", so matplotlib cannot infer the format from it.
    with atomic_path(path) as partial:
        fig.savefig(partial, dpi=120, format="png")


def plot_psnr_vs_macs(rows: list[dict[str, Any]], path: Path) -> None:
    points = [r for r in rows if r["gmacs_256"] is not None and ranking_psnr(r) > -math.inf]
    fig, ax = agg_figure()
    if points:
        largest = max((r["params"] or 0) for r in points) or 1
        sizes = [30 + 600 * math.sqrt((r["params"] or 0) / largest) for r in points]
        ax.scatter([r["gmacs_256"] for r in points], [r[keys.TEST_PSNR] for r in points], s=sizes, alpha=0.6)
        for r in points:
            ax.annotate(
                r["label"], (r["gmacs_256"], r[keys.TEST_PSNR]), fontsize=8, xytext=(4, 4), textcoords="offset points"
            )
        positive = [r["gmacs_256"] for r in points if r["gmacs_256"] > 0]
        # symlog: classical methods sit at 0 MACs, networks span several decades.
        ax.set_xscale("symlog", linthresh=min(positive) if positive else 1e-3)
        ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    else:
        ax.text(0.5, 0.5, "no finished run with a test PSNR", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"GMACs at {MACS_SIZE}×{MACS_SIZE}")
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title("PSNR vs compute (marker area grows with the parameter count)")
    ax.grid(True, alpha=0.3)
    _save_png(fig, path)


def _per_image_psnr(row: dict[str, Any]) -> list[float]:
    if not row["per_image_csv"]:
        return []
    with open(row["per_image_csv"], newline="") as f:
        return [float(r[keys.PSNR]) for r in csv.DictReader(f) if r.get(keys.PSNR) not in (None, "")]


def plot_per_image_psnr(rows: list[dict[str, Any]], path: Path) -> None:
    series = [(r["label"], values) for r in rows if (values := _per_image_psnr(r))]
    fig, ax = agg_figure(max(6.0, 0.9 * len(series) + 2), 4.5)
    if series:
        ax.boxplot([values for _, values in series])
        ax.set_xticks(range(1, len(series) + 1), [label for label, _ in series], rotation=30, ha="right")
    else:
        ax.text(0.5, 0.5, "no per_image.csv found", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("per-image test PSNR (dB)")
    ax.set_title("Per-image PSNR on the test split")
    ax.grid(True, axis="y", alpha=0.3)
    _save_png(fig, path)
