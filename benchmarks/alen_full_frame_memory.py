"""Peak memory (RSS) and time of one ALEN forward pass on the CPU, on a full Sony frame by default.

    python benchmarks/alen_full_frame_memory.py                          # packed 1×4×1424×2128, chunk 4096
    python benchmarks/alen_full_frame_memory.py --chunk 16384 --size 712 1064
    python benchmarks/alen_full_frame_memory.py --chunk none --size 512 512   # the official full matrix

Run it alone: ru_maxrss is the process's high-water mark, so the figures are the peak before the forward
pass (interpreter + torch + weights + input) and the peak during it. It also prints the size of one
attention buffer (queries × keys, fp32) at each MAB, which is what the chunk bounds; the softmax holds two.
"""

from __future__ import annotations

import argparse
import platform

import torch

from forward_memory import measure_forward  # benchmarks/ is on sys.path when a script in it runs
from lle.models.alen import ALEN


def chunk_arg(value: str) -> int | None:
    return None if value.lower() in ("none", "0") else int(value)


def attention_shapes(h: int, w: int) -> list[tuple[int, int]]:
    """(queries, keys) at enc1..enc3 for a packed h×w input padded to a multiple of 8."""
    h, w = -(-h // 8) * 8, -(-w // 8) * 8
    shapes = []
    for level in (1, 2, 3):
        qh, qw = max((h >> level) // 2, 1), max((w >> level) // 2, 1)  # the NL's 2× average pool
        shapes.append((qh * qw, max(qh // 4, 1) * max(qw // 4, 1)))  # keys: a further 4× pool
    return shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(1424, 2128),
        metavar=("H", "W"),
        help="packed raw size (a Sony frame is 2848×4256, packed 1424×2128)",
    )
    parser.add_argument("--chunk", type=chunk_arg, default=4096, help="attention_chunk; 'none' for the full matrix")
    parser.add_argument("--downsample", choices=("isl", "maxpool"), default="isl")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = ALEN(downsample=args.downsample, attention_chunk=args.chunk).eval()
    h, w = args.size
    x = torch.rand(1, 4, h, w)
    params = sum(p.numel() for p in net.parameters())
    result = measure_forward(net, x)
    before, after, seconds = result["before_mib"], result["peak_mib"], result["seconds"]
    assert result["output"] == (1, 3, 2 * h, 2 * w)

    print(f"model            ALEN, downsample={args.downsample}, attention_chunk={args.chunk} ({params:,} parameters)")
    print(f"input            1×4×{h}×{w} packed, float32, torch.inference_mode() → 1×3×{2 * h}×{2 * w}")
    print(f"machine          {platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    for level, (queries, keys) in enumerate(attention_shapes(h, w), start=1):
        rows = queries if args.chunk is None else min(args.chunk, queries)
        print(
            f"enc{level} attention   {queries:,} queries × {keys:,} keys: full {queries * keys * 4 / 2**20:,.0f} MiB, "
            f"per chunk {rows * keys * 4 / 2**20:,.0f} MiB"
        )
    print(f"peak RSS before  {before:,.0f} MiB (interpreter, torch, weights, input)")
    print(f"peak RSS         {after:,.0f} MiB (+{after - before:,.0f} MiB for the forward pass)")
    print(f"forward time     {seconds:.1f} s (one run, no warm-up)")


if __name__ == "__main__":
    main()
