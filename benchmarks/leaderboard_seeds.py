"""Several seeds of one leaderboard sweep side by side: each model's test metrics per seed, their mean and spread.

    python benchmarks/leaderboard_seeds.py logs/train/multiruns/<seed 12345> logs/train/multiruns/<seed 1>

Each argument is a multirun of the same command with another `seed=`; a model's row takes its run from each sweep
(`choice/model` of its metrics.json) and the classical methods' rows the baselines the sweeps scored (identical
across seeds: they train nothing). Spread is max − min over the seeds. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

METRICS = ("test/psnr", "test/ssim", "test/psnr_gtmean", "test/ssim_gtmean")
NAMES = {
    "test/psnr": "PSNR",
    "test/ssim": "SSIM",
    "test/psnr_gtmean": "PSNR GT-mean",
    "test/ssim_gtmean": "SSIM GT-mean",
}


def sweep_scores(sweep: Path) -> dict[str, dict[str, float]]:
    """model or baseline method → its test metrics in this sweep (finished runs only)."""
    scores: dict[str, dict[str, float]] = {}
    for metrics_file in sorted(sweep.glob("*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        if metrics.get("status") != "ok":
            continue
        scores[metrics["choice/model"]] = {k: metrics[k] for k in METRICS if k in metrics}
        for key, value in metrics.items():
            if key.startswith("baseline/"):
                _, method, logged = key.split("/", 2)
                scores.setdefault(method, {})[logged] = value
    if not scores:
        raise SystemExit(f"{sweep}: no finished job (metrics.json with status ok)")
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="multirun directories, one per seed")
    args = parser.parse_args()
    per_seed = [sweep_scores(sweep) for sweep in args.sweeps]
    models = sorted(
        set.intersection(*(set(s) for s in per_seed)),
        key=lambda m: -statistics.mean(s[m]["test/psnr"] for s in per_seed),
    )
    columns = [f"{NAMES[k]} {label}" for k in METRICS for label in ("mean", "spread")]
    print(
        "| method | " + " | ".join(f"PSNR {sweep.name}" for sweep in args.sweeps) + " | " + " | ".join(columns) + " |"
    )
    print("|---|" + "---:|" * (len(args.sweeps) + len(columns)))
    for model in models:
        cells = [f"{s[model]['test/psnr']:.2f}" for s in per_seed]
        for key in METRICS:
            values = [s[model][key] for s in per_seed if key in s[model]]
            digits = 2 if "psnr" in key else 3
            cells += [f"{statistics.mean(values):.{digits}f}", f"{max(values) - min(values):.{digits}f}"]
        print(f"| {model} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
