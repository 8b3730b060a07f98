"""CPU time per image of the classical baselines, on skimage's coffee (400×600) made dark.

    python benchmarks/classical_speed.py                     # all five, 2 threads, median of 10 runs
    python benchmarks/classical_speed.py --models lime --threads 1

The median of several runs after one warm-up call: on a shared machine single runs vary by 2×.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from skimage import data

import lle.models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gamma", "he", "clahe", "dong2011", "lime"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rgb = data.coffee().astype(np.float32) / 255.0
    x = torch.from_numpy((rgb**2.2) * 0.15).permute(2, 0, 1)[None].contiguous()
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
        f"input {tuple(x.shape)}"
    )
    for name in args.models:
        net = lle.models.build(name).eval()
        times = []
        with torch.inference_mode():
            net(x)
            for _ in range(args.repeats):
                start = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - start)
        print(f"{name:10s} median {1e3 * statistics.median(times):7.1f} ms   min {1e3 * min(times):7.1f} ms")


if __name__ == "__main__":
    main()
