"""Peak memory (RSS) and time of one forward pass of any lle network on the CPU.

    python benchmarks/forward_memory.py --model mirnet --size 400 600            # MIRNet at LOL's size
    python benchmarks/forward_memory.py --model alen --channels 4 --size 1424 2128  # a packed Sony frame
    python benchmarks/forward_memory.py --model alen --set downsample=maxpool attention_chunk=null

Run it alone: ru_maxrss is the process's high-water mark, so the figures are the peak before the forward
pass (interpreter + torch + weights + input) and the peak during it.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch
import yaml

import lle.models


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_forward(net: torch.nn.Module, x: torch.Tensor) -> dict:
    """Peak RSS before and during one inference-mode forward pass, its time and the output shape."""
    before = peak_rss_mib()
    with torch.inference_mode():
        start = time.perf_counter()
        out = net(x)
        seconds = time.perf_counter() - start
    return {"before_mib": before, "peak_mib": peak_rss_mib(), "seconds": seconds, "output": tuple(out.shape)}


def overrides(pairs: list[str]) -> dict:
    """`key=value` constructor overrides, values parsed as YAML (null, 4096, maxpool, true)."""
    return {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mirnet", help="a name from lle.models.available()")
    parser.add_argument("--size", type=int, nargs=2, default=(400, 600), metavar=("H", "W"))
    parser.add_argument("--channels", type=int, default=3, help="input channels (4 for packed Bayer RAW)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="network constructor overrides")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = lle.models.build(args.model, **overrides(args.set)).eval()
    x = torch.rand(1, args.channels, *args.size)
    result = measure_forward(net, x)
    params = sum(p.numel() for p in net.parameters())
    print(f"model            {args.model} {overrides(args.set) or ''} ({params:,} parameters)")
    print(f"input            {tuple(x.shape)} float32, torch.inference_mode() → {result['output']}")
    print(f"machine          {platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    print(f"peak RSS before  {result['before_mib']:,.0f} MiB (interpreter, torch, weights, input)")
    print(
        f"peak RSS         {result['peak_mib']:,.0f} MiB (+{result['peak_mib'] - result['before_mib']:,.0f} MiB "
        f"for the forward pass)"
    )
    print(f"forward time     {result['seconds']:.1f} s (one run, no warm-up)")


if __name__ == "__main__":
    main()
