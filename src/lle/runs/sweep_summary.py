"""The table a multirun ends with: each job's status, test PSNR/SSIM and run directory, read from the
`metrics.json` the jobs wrote, then the `lle-report` command that makes the full leaderboard.

`SweepSummary` is a Hydra callback (conf/train.yaml, conf/eval.yaml, beside the output-directory guard); it only
reads, so a job that failed or never wrote its file is listed as such and the sweep's exit status is unchanged.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from lle.metrics import keys

NO_RECORD = "incomplete"  # a job directory without metrics.json: killed, or still running elsewhere


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job directories (a `.hydra/` or a `metrics.json` inside), in job-number order."""
    found = {
        p.parent
        for pattern in ("*/.hydra", "*/metrics.json", "*/*/.hydra", "*/*/metrics.json")
        for p in sweep_dir.glob(pattern)
    }
    found = {d for d in found if not any(part.startswith(".") for part in d.relative_to(sweep_dir).parts)}

    def number(d: Path) -> tuple[float, str]:
        match = re.match(r"(\d+)", d.relative_to(sweep_dir).as_posix())
        return (int(match.group(1)) if match else math.inf, d.as_posix())

    return sorted(found, key=number)


def read_job(job_dir: Path) -> dict[str, Any]:
    try:
        record = json.loads((job_dir / "metrics.json").read_text())
    except FileNotFoundError:
        return {"status": NO_RECORD}
    except (OSError, ValueError) as err:
        return {"status": "unreadable", "error": f"metrics.json: {type(err).__name__}"}
    return record if isinstance(record, dict) else {"status": "unreadable", "error": "metrics.json is not a record"}


def _number(value: Any, decimals: int) -> str:
    return f"{value:.{decimals}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def best_baseline(records: list[dict[str, Any]]) -> tuple[str, float, float] | None:
    """(method, test PSNR, test SSIM) of the best-scoring baseline any job recorded."""
    best = None
    for record in records:
        for name, value in record.items():
            if not (keys.is_baseline(name) and name.endswith(f"/{keys.TEST_PSNR}")) or not isinstance(value, float):
                continue
            method, _ = keys.split_baseline_key(name)
            if best is None or value > best[1]:
                best = (method, value, record.get(keys.baseline_key(method, keys.TEST_SSIM)))
    return best


def sweep_table(sweep_dir: Path) -> str:
    """The table of the sweep's jobs and the lle-report command, as the end of a multirun prints it."""
    jobs = [(d, read_job(d)) for d in job_dirs(sweep_dir)]
    rows = [("status", "model", "PSNR", "SSIM", "run directory")]
    for job_dir, record in jobs:
        error = (record.get("error") or "").strip().splitlines()
        rows.append(
            (
                str(record.get("status", "unknown")),
                str(record.get("choice/model", "")),
                _number(record.get(keys.TEST_PSNR), 2),
                _number(record.get(keys.TEST_SSIM), 4),
                job_dir.relative_to(sweep_dir).as_posix() + (f"  ({error[0][:100]})" if error else ""),
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3].rjust(widths[3])]
        lines.append("  " + "  ".join(cells) + "  " + row[4])
    failed = sum(record.get("status") != "ok" for _, record in jobs)
    head = f"sweep {sweep_dir}: {len(jobs)} jobs" + (f", {failed} not ok" if failed else ", all ok")
    baseline = best_baseline([record for _, record in jobs])
    tail = []
    if baseline is not None:
        tail.append(
            f"  best baseline on the test split: {baseline[0]} {_number(baseline[1], 2)} dB, "
            f"SSIM {_number(baseline[2], 4)}"
        )
    tail.append(f"leaderboard, plots and images: lle-report {shlex.quote(str(sweep_dir))}")
    return "\n".join([head, *lines, *tail])


class SweepSummary(Callback):
    """Hydra callback: print `sweep_table` when a multirun ends (never raises: a summary must not fail a sweep)."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        try:
            text = sweep_table(sweep_dir)
        except Exception as err:  # noqa: BLE001 — reading what the jobs left must never turn a sweep into a failure
            text = f"no summary of {sweep_dir} ({type(err).__name__}: {err}); run lle-report {sweep_dir}"
        print(text, flush=True)
