"""Data-loading soak: many batches from the synthetic DataModule with worker processes; memory must stay flat.

    python benchmarks/soak_dataloader.py --batches 3000 --workers 2      # the recorded run
    python benchmarks/soak_dataloader.py --quick                         # CI

Prints the resident memory of the main process plus its workers at regular intervals and the growth
between the first and the last quarter of the run. A leak (e.g. caching every synthesised sample, or
Python objects piling up in workers) shows up as steady growth.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def _tree_rss_mb() -> float:
    """RSS of this process and its children (the DataLoader workers)."""
    me = os.getpid()
    pids = [me]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, IndexError, ProcessLookupError):
                continue
            if int(fields[1]) == me:
                pids.append(int(entry.name))
    return sum(_rss_mb(p) for p in pids)


def soak(batches: int, workers: int, batch_size: int, crop: int) -> dict:
    from lle.data.synthetic_lol import SyntheticLowLightDataModule

    dm = SyntheticLowLightDataModule(
        crop_size=crop, batch_size=batch_size, num_workers=workers, samples_per_epoch=batch_size * 50
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    samples, seen, epoch, started = [], 0, 0, time.time()
    while seen < batches:
        loader.sampler.set_epoch(epoch)
        for _ in loader:
            seen += 1
            if seen % max(batches // 20, 1) == 0:
                samples.append((seen, round(_tree_rss_mb(), 1)))
            if seen >= batches:
                break
        epoch += 1
    quarter = max(len(samples) // 4, 1)
    first = sum(m for _, m in samples[:quarter]) / quarter
    last = sum(m for _, m in samples[-quarter:]) / quarter
    return {
        "batches": seen,
        "workers": workers,
        "batch_size": batch_size,
        "crop": crop,
        "seconds": round(time.time() - started, 1),
        "rss_mb": samples,
        "growth_mb_first_to_last_quarter": round(last - first, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.crop = 200, 32
    result = soak(args.batches, args.workers, args.batch_size, args.crop)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
