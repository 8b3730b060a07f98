"""`index.html`: the leaderboard, the plots and every run's latest validation grid on one page.

The page's fixed text lives in `templates/index.html` (a `string.Template`); this module builds the parts
that depend on the runs, every value passed through `html.escape`.
"""

from __future__ import annotations

import html
import os
import shutil
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from lle.atomic import write_atomic, write_text_atomic
from lle.report.collect import BASELINE
from lle.report.tables import cell, markdown_columns, notes
from lle.runs.results import OK


def _template() -> Template:
    # Read through importlib.resources so that the page is found in a wheel as in the source tree.
    return Template((resources.files("lle.report") / "templates" / "index.html").read_text(encoding="utf-8"))


def _table(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The header cells and the body rows; failed and unfinished runs are highlighted, baselines greyed."""
    columns = markdown_columns(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = []
    for rank, row in enumerate(rows, 1):
        # The Markdown cell, without its `|` escape: HTML needs none.
        cells = "".join(
            f"<td>{html.escape(cell(row.get(k), d).replace(chr(92) + '|', '|'))}</td>" for k, _, d in columns
        )
        css = ' class="failed"' if row["status"] != OK else ' class="baseline"' if row.get("kind") == BASELINE else ""
        body.append(f"<tr{css}><td>{rank}</td>{cells}</tr>")
    return head, "\n".join(body)


def _copy(source: str | Path, target: Path) -> None:
    with open(source, "rb") as f:
        write_atomic(target, lambda handle: shutil.copyfileobj(f, handle))


def _grids(rows: list[dict[str, Any]], grids_dir: Path) -> str:
    """A figure per run with a validation grid (or, for an lle-eval run, its test grid: input | output for
    unpaired data), the grid copied into `grids_dir` under its rank and run."""
    sections = []
    for rank, row in enumerate(rows, 1):
        grid = row.get("val_grid") or row.get("test_grid")
        if not grid:
            continue
        name = f"{rank:03d}_{row['run'].replace(os.sep, '_')}.png"
        _copy(grid, grids_dir / name)
        columns = "input | output | target" if row.get("val_grid") or row.get("paired", True) else "input | output"
        caption = f"{row['label']}: {'test' if grid == row.get('test_grid') else Path(grid).stem} ({columns})"
        sections.append(
            f'<figure><img src="grids/{html.escape(name)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return "\n".join(sections) or "<p>no validation or test images found</p>"


FIGURE_ALT = {"psnr_vs_macs.png": "test PSNR vs GMACs", "per_image_psnr.png": "per-image PSNR"}


def _figures(figures: list[str]) -> str:
    if not figures:
        return "<p>no plots (see the output of lle-report)</p>"
    return " ".join(f'<img src="{html.escape(f)}" alt="{html.escape(FIGURE_ALT.get(f, f))}">' for f in figures)


def write_html(rows: list[dict[str, Any]], out: Path, figures: list[str] = ("psnr_vs_macs.png", "per_image_psnr.png")):
    """index.html next to the `figures` (files in `out`); each run's latest validation grid is copied in, so the
    folder can be moved or shared on its own."""
    grids_dir = out / "grids"
    grids_dir.mkdir(exist_ok=True)
    head, body = _table(rows)
    page = _template().substitute(
        head=head,
        rows=body,
        figures=_figures(list(figures)),
        sections=_grids(rows, grids_dir),
        notes=html.escape(notes()).replace("\n", "<br>\n"),
    )
    write_text_atomic(out / "index.html", page)
