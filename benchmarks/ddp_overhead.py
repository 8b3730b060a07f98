"""What DDP costs per training step on the CPU: `lle-train` in one process vs two DDP processes (gloo) with the same
global batch, on the same cores.

    python benchmarks/ddp_overhead.py --out ddp.json               # the recorded run (docs/scaling.md)
    python benchmarks/ddp_overhead.py --workloads tiny --rounds 1  # a quick look

Each configuration trains twice, `--steps` short and long (real `lle-train` runs, validation of one batch, no
test); the time per step is (fit time of the long run - fit time of the short one) / (difference in steps), which
cancels start-up, DDP's process start and rendezvous, and validation. One process uses all `--threads` threads;
each DDP process gets threads / 2, so both use the same cores. Configurations take turns within a round so that a
change in machine load hits both; the reported figure is the median over rounds.

Workloads: `default` is lle-train's default (GLADNet, 128×128 crops, global batch 8); `tiny` (GLADNet with 8
channels, 32×32 crops, global batch 2) is a step of milliseconds, which shows DDP's fixed cost per step (one
gradient all-reduce, lle's pre-emption flag).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lle.bench.machine import load_average, machine_info

WORKLOADS = {
    "default": ["model=gladnet", "data.crop_size=128"],
    "tiny": ["model=gladnet", "model.net.global_channels=8", "model.net.detail_channels=8", "data.crop_size=32"],
}
GLOBAL_BATCH = {"default": 8, "tiny": 2}


def fit_time(workload: str, ddp: bool, steps: int, threads: int, root: Path) -> float:
    world = 2 if ddp else 1
    batch = GLOBAL_BATCH[workload] // world
    run = Path(tempfile.mkdtemp(dir=root))
    args = [
        sys.executable,
        "-m",
        "lle.cli.train",
        *WORKLOADS[workload],
        *(["trainer=ddp_cpu", "trainer.devices=2"] if ddp else ["trainer=cpu"]),
        "trainer.max_epochs=1",
        f"data.batch_size={batch}",
        f"data.samples_per_epoch={steps * GLOBAL_BATCH[workload]}",
        "data.num_val=2",
        "data.num_test=2",
        "data.eval_batch_size=1",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "test=false",
        "callbacks.progress_bar=null",
        "callbacks.model_summary=null",
        "callbacks.image_grid=null",
        f"hydra.run.dir={run / 'run'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // world))}
    subprocess.run(args, cwd=run, env=env, check=True, capture_output=True, timeout=3600)
    return json.loads((run / "run" / "metrics.json").read_text())["train_time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=["tiny", "default"], choices=sorted(WORKLOADS))
    parser.add_argument("--steps", nargs=2, type=int, default=[10, 40], metavar=("SHORT", "LONG"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    short, long = args.steps
    results: dict = {"machine": machine_info(), "load_before": load_average(), "steps": args.steps, "workloads": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for workload in args.workloads:
            per_step: dict[str, list[float]] = {"one_process": [], "ddp_2": []}
            for _ in range(args.rounds):
                for name, ddp in (("one_process", False), ("ddp_2", True)):
                    t_short = fit_time(workload, ddp, short, args.threads, Path(tmp))
                    t_long = fit_time(workload, ddp, long, args.threads, Path(tmp))
                    per_step[name].append((t_long - t_short) / (long - short))
            one, two = statistics.median(per_step["one_process"]), statistics.median(per_step["ddp_2"])
            results["workloads"][workload] = {
                "global_batch": GLOBAL_BATCH[workload],
                "s_per_step": {"one_process": round(one, 4), "ddp_2": round(two, 4)},
                "ddp_overhead_ratio": round(two / one, 3),
                "rounds": per_step,
            }
            print(workload, json.dumps(results["workloads"][workload]), flush=True)
    results["load_after"] = load_average()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
