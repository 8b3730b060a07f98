"""Two lle-train runs at once on one machine, against one alone: what sharing the CPUs costs.

    python benchmarks/concurrent_runs.py                         # alone, then two at once (cpu_threads=auto)
    python benchmarks/concurrent_runs.py --threads auto 1 --json out.json
    python benchmarks/concurrent_runs.py -- model=gladnet trainer.max_epochs=1   # another run to time

Each setting of `cpu_threads` times one run alone and two identical runs started together (each in its own
directory). On an idle machine two runs that share the CPUs well take about twice one run's time; threads that
outnumber the CPUs wait for each other's time slices at every operation and take much longer.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lle.bench.machine import load_average, machine_info

# A short training of the default model: long enough to measure, short enough to repeat.
DEFAULT_RUN = [
    "trainer.max_epochs=1",
    "data.samples_per_epoch=240",  # 60 steps of batch 4
    "data.num_val=1",
    "data.num_test=1",
    "data.eval_crop_size=128",
    "test=false",
    "baselines=false",
    "callbacks.image_grid=null",
]


def start(workdir: Path, overrides: list[str]) -> subprocess.Popen:
    workdir.mkdir(parents=True)
    lle_train = Path(sys.executable).with_name("lle-train")
    log = open(workdir / "console.log", "w")  # noqa: SIM115 — closed with the process below
    return subprocess.Popen([str(lle_train), *overrides], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)


def timed(workdirs: list[Path], overrides: list[str]) -> list[float]:
    """Starts one run per directory at once; the wall time of each."""
    started = time.perf_counter()
    processes = [start(d, overrides) for d in workdirs]
    walls = []
    for process, workdir in zip(processes, workdirs):
        if process.wait() != 0:
            raise SystemExit(f"lle-train failed; see {workdir / 'console.log'}")
        walls.append(round(time.perf_counter() - started, 1))
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", nargs="+", default=["auto"], help="cpu_threads settings to compare")
    parser.add_argument("--json", type=Path, help="write the record here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides after -- (default: a 60-step default run)")
    args = parser.parse_args()

    overrides = args.overrides or DEFAULT_RUN
    root = Path(tempfile.mkdtemp(prefix="lle-concurrent-"))
    record = {"command": "lle-train " + " ".join(overrides), "machine": machine_info(), "settings": {}}
    for threads in args.threads:
        run = [*overrides, f"cpu_threads={threads}"]
        before = load_average()
        alone = timed([root / f"{threads}-alone"], run)[0]
        pair = timed([root / f"{threads}-pair-a", root / f"{threads}-pair-b"], run)
        record["settings"][threads] = {
            "alone_s": alone,
            "two_at_once_s": pair,
            "slowdown": round(max(pair) / alone, 2),
            "load_average_before": before,
        }
        print(f"cpu_threads={threads}: alone {alone:.0f} s, two at once {pair[0]:.0f} s and {pair[1]:.0f} s "
              f"({max(pair) / alone:.1f}× one run)")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
