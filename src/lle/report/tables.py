"""The leaderboard as tables: `leaderboard.csv` (raw values) and `leaderboard.md` (rounded, with notes)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from lle.atomic import write_text_atomic
from lle.metrics import keys
from lle.metrics.protocol import stated_protocol
from lle.models.complexity import MACS_SIZE

# (key in a leaderboard row, Markdown header, decimals; None: the value as it is). Numbers get thousands
# separators (931,523 parameters).
Column = tuple[str, str, int | None]
MARKDOWN_COLUMNS: tuple[Column, ...] = (
    ("model", "model", None),
    ("weights", "weights", None),
    ("data", "data", None),
    ("run", "run", None),
    ("status", "status", None),
    ("protocol", "protocol", None),
    ("split", "train/val/test", None),
    (keys.TEST_PSNR, "PSNR", 2),
    (keys.TEST_SSIM, "SSIM", 4),
    (keys.TEST_PSNR_GTMEAN, "PSNR GT-mean", 2),
    (keys.TEST_SSIM_GTMEAN, "SSIM GT-mean", 4),
    (keys.TEST_LPIPS, "LPIPS ↓", 4),
    (keys.TEST_NIQE, "NIQE ↓", 4),
    (keys.VAL_PSNR_BEST, "val PSNR", 2),
    ("params", "params", 0),
    ("gmacs_256", "GMACs @256²", 3),
    ("train_time_s", "train time (s)", 1),
    ("checkpoint_best", "checkpoint", None),
    ("error", "error", None),
)


LATENCY_DECIMALS = 2  # milliseconds


def _latency_keys(rows: list[dict[str, Any]]) -> list[str]:
    # Optional columns: whatever latencies the runs recorded or --bench joined, in a stable order.
    return sorted({k for r in rows for k in r if k.startswith("latency")})


# --- CSV ---------------------------------------------------------------------------------------------
def csv_columns(rows: list[dict[str, Any]]) -> list[str]:
    return [
        "run",
        "kind",
        "status",
        "model",
        "weights",
        "data",
        "protocol",
        "split",
        *keys.REPORTED,
        "params",
        "macs_256",
        *_latency_keys(rows),
        "train_time_s",
        "checkpoint_best",
        "error",
        "run_dir",
    ]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = csv_columns(rows)
    text = io.StringIO(newline="")  # the csv module writes its own line endings
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    # Floats are written with repr(): the CSV holds the metrics.json values exactly.
    writer.writerows({k: ("" if r.get(k) is None else r.get(k)) for k in columns} for r in rows)
    write_text_atomic(path, text.getvalue())


# --- Markdown ----------------------------------------------------------------------------------------
def cell(value: Any, decimals: int | None) -> str:
    """One table cell: rounded to `decimals` if given, else the first line of the value, `|` escaped."""
    if value is None or value == "":
        return ""
    if decimals is not None and isinstance(value, (int, float)):
        return "nan" if math.isnan(value) else f"{value:,.{decimals}f}"
    text = str(value).splitlines()[0] if str(value) else ""
    return text.replace("|", "\\|")


def markdown_columns(rows: list[dict[str, Any]]) -> list[Column]:
    """MARKDOWN_COLUMNS with the latency columns before the training time (the HTML page shows the same)."""
    columns = list(MARKDOWN_COLUMNS)
    at = [c[0] for c in columns].index("train_time_s")
    return columns[:at] + [(k, k, LATENCY_DECIMALS) for k in _latency_keys(rows)] + columns[at:]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    columns = markdown_columns(rows)
    lines = [
        "| # | " + " | ".join(header for _, header, _ in columns) + " |",
        "|---:|" + "|".join("---:" if d is not None else "---" for _, _, d in columns) + "|",
    ]
    for rank, row in enumerate(rows, 1):
        lines.append(f"| {rank} | " + " | ".join(cell(row.get(k), d) for k, _, d in columns) + " |")
    return "\n".join(lines)


def notes() -> str:
    """How to read the table: the sort order, what GMACs count, the protocol every number follows."""
    protocol = "\n".join(f"- {k.split('/', 1)[1]}: {v}" for k, v in stated_protocol().items())
    return (
        "Sorted by test PSNR; runs without one (unpaired data) follow by NIQE, lower first; failed and "
        "incomplete runs come last with their error. ↓: lower is better.\n"
        f"GMACs: one forward pass at 1×C×{MACS_SIZE}×{MACS_SIZE}, FLOPs/2 from torch's FlopCounterMode "
        "(convolutions and matrix products only: classical methods' pixel operations are not counted).\n"
        "Rows whose run reads 'baseline (scored with …)' train nothing (the input itself, lle's classical methods): "
        "the runs named scored them on their own test split, with the same metrics; one row per data, protocol "
        "and scores.\n\n"
        f'"lle standard" protocol:\n{protocol}\n'
    )


def write_markdown(rows: list[dict[str, Any]], path: Path) -> None:
    write_text_atomic(path, f"# Leaderboard\n\n{markdown_table(rows)}\n\n{notes()}")
