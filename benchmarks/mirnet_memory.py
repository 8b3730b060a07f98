"""Peak memory (RSS) and time of one MIRNet forward pass on the CPU, at LOL's 400×600 by default.

    python benchmarks/mirnet_memory.py                       # MIRNet, 1×3×400×600
    python benchmarks/mirnet_memory.py --model mirnet_v2 --size 256 256

Run it alone: ru_maxrss is the process's high-water mark, so the figures are the peak before the forward
pass (interpreter + torch + weights) and the peak during it.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch

import lle.models


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mirnet", help="a name from lle.models.available()")
    parser.add_argument("--size", type=int, nargs=2, default=(400, 600), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = lle.models.build(args.model).eval()
    x = torch.rand(1, 3, *args.size)
    params = sum(p.numel() for p in net.parameters())
    before = peak_rss_mib()
    with torch.inference_mode():
        start = time.perf_counter()
        out = net(x)
        seconds = time.perf_counter() - start
    after = peak_rss_mib()
    assert out.shape == x.shape

    print(f"model            {args.model} ({params:,} parameters)")
    print(f"input            1×3×{args.size[0]}×{args.size[1]}, float32, torch.inference_mode()")
    print(f"machine          {platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    print(f"peak RSS before  {before:,.0f} MiB (interpreter, torch, weights)")
    print(f"peak RSS         {after:,.0f} MiB (+{after - before:,.0f} MiB for the forward pass)")
    print(f"forward time     {seconds:.1f} s (one run, no warm-up)")


if __name__ == "__main__":
    main()
