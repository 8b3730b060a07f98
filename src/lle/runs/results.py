"""What a finished (or failed) run reports: `metrics.json`, `per_image.csv`, failure records.

`metrics.json` is flat, so that `lle-report` and a notebook read it without knowing lle: the status, the
config-group choices (`choice/model`, …), the metrics under their logged keys (`lle.metrics.keys`), the
protocol they follow (`lle.metrics.protocol`), and details of the run (parameters, timings, checkpoints).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lle.atomic import write_text_atomic
from lle.metrics import keys
from lle.metrics.protocol import PROTOCOL

OK, FAILED, INTERRUPTED = "ok", "failed", "interrupted"


def final_metrics(logged: Mapping[str, Any]) -> dict[str, float]:
    """The validation and test results among a trainer's logged values (`trainer.callback_metrics`)."""
    return {k: float(v) for k, v in logged.items() if keys.is_result(k)}


def choice_keys(choices: Mapping[str, str | None]) -> dict[str, str]:
    return {f"choice/{k}": v for k, v in choices.items() if v is not None}


def run_result(
    choices: Mapping[str, str | None], metrics: Mapping[str, float], params: int, **details: Any
) -> dict[str, Any]:
    """The `metrics.json` of a finished run, for `lle-train` and `lle-eval` alike."""
    return {"status": OK, **choice_keys(choices), **metrics, **PROTOCOL, "params": params, **details}


def data_details(described: Mapping[str, Any], names: tuple[str, ...], scored_test: int | None) -> dict[str, Any]:
    """The `names` entries of a DataModule's `describe()` for `metrics.json`, with the test split's size replaced
    by the number of images scored when a limit (`debug=limit`, `trainer.limit_test_batches`) scored fewer; the
    split's full size is then kept as `test_available`, so that no count states what was not scored."""
    details = {k: v for k, v in described.items() if k in names}
    sizes = dict(details.get("split_sizes") or {})
    if scored_test is not None and "test" in sizes and scored_test != sizes["test"]:
        sizes["test_available"], sizes["test"] = sizes["test"], scored_test
        details["split_sizes"] = sizes
    return details


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (a diverged run's NaN PSNR) as None, so the file is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    text = json.dumps(json_safe(payload), indent=2, sort_keys=True, default=str, allow_nan=False)
    write_text_atomic(path, text + "\n")


def write_per_image_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One row per test image (name and its metrics); nothing is written when there are none."""
    if not rows:
        return
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, text.getvalue())


def read_status(metrics_file: Path) -> str | None:
    try:
        return json.loads(metrics_file.read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def record_failure(
    output_dir: Path, err: BaseException, choices: Mapping[str, str | None], status: str = FAILED
) -> Path:
    """metrics.json says the run failed (or was interrupted); a finished run's results (a resumed run that
    failed) are kept and the failure goes next to them instead. Returns the file written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "status": status,
        "error": f"{type(err).__name__}: {err}" if str(err) else type(err).__name__,
        "traceback": traceback.format_exc(),
        **choice_keys(choices),
    }
    target = output_dir / "metrics.json"
    if target.exists() and read_status(target) == OK:
        target = output_dir / f"failure-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(target, record)
    return target
