"""The README's main job, timed: `lle-train` with no arguments, from a fresh working directory, end to end.

    python benchmarks/default_run.py                      # one run; prints the time and the final metrics
    python benchmarks/default_run.py --json out.json      # also writes them (docs/benchmarks.md records them)

It runs the console script as a user does (startup, data synthesis, training, validation, testing the selected
checkpoint and the classical baselines, writing the run directory) in a temporary directory, and records the
wall time, the machine and its load average before and after: the target (at most 5 minutes on 2 idle cores) only
means something on an idle machine, so a load average above the core count is reported as such. Pass extra
arguments after `--` to time another configuration, e.g. `-- trainer.max_epochs=2`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lle.bench.machine import load_average, machine_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the record here")
    parser.add_argument("--keep", type=Path, help="run in this (new) directory instead of a temporary one")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides after --")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="lle-default-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    lle_train = Path(sys.executable).with_name("lle-train")
    command = [str(lle_train), *args.overrides]
    before = load_average()
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env={**os.environ})
    wall = time.perf_counter() - start
    after = load_average()
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"lle-train failed with exit status {completed.returncode}")
    (metrics_file,) = workdir.glob("logs/train/runs/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    record = {
        "command": "lle-train " + " ".join(args.overrides),
        "wall_s": round(wall, 1),
        "train_time_s": metrics.get("train_time_s"),
        "load_average_before": before,
        "load_average_after": after,
        "machine": machine_info(),
        "metrics": {k: v for k, v in metrics.items() if k.startswith(("test/", "val/", "baseline/"))},
        "run_dir": str(metrics_file.parent),
    }
    cores = os.cpu_count() or 1
    busy = max(before[0], after[0]) > cores
    print(f"lle-train {' '.join(args.overrides)}: {wall:.0f} s wall{'  (machine busy: load > cores)' if busy else ''}")
    for key in sorted(record["metrics"]):
        value = record["metrics"][key]
        if isinstance(value, float):
            print(f"  {key:40s} {value:.4f}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
