"""Tiles without seams: PSNR of tiled against whole-image enhancement, with the time and peak memory of each.

    python benchmarks/tiled_seams.py --model best.ckpt                       # 1200×1800, tiles 512 and 256
    python benchmarks/tiled_seams.py --model best.ckpt --size 600 900 --tiles 256 --overlap 32 64
    python benchmarks/tiled_seams.py --model gladnet --size 240 360 --tiles 128    # seeded default weights

`--model` is an lle checkpoint (or official:<name>:<file>) or a model name (seeded untrained weights). The
image is a photograph that ships with scikit-image, resized to `--size` and darkened (as in
tiled_enhance_memory.py). Every run (the whole image, then each tile size) is a process of its own, so its peak
RSS is its own high-water mark; `peak` is the rise during the enhancement, above weights and input. The
untiled run's rise divided by the pixels is the network's bytes per pixel
(`lle.models.complexity.FORWARD_BYTES_PER_PIXEL`). PSNR compares outputs clamped to [0, 1], as they are written.
`passes` is the number of passes over the tiles that the statistics took (1 for a local network); `--passes`
caps it, so `--passes 1` shows what tiling without shared statistics gives.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def dark_photo(height: int, width: int) -> torch.Tensor:
    from PIL import Image
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.BILINEAR))
    return torch.from_numpy((photo // 7).astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()


def load(spec: str):
    import lle.models
    from lle.inference import Enhancer, load_model

    if spec in lle.models.available():
        torch.manual_seed(0)
        return Enhancer(lle.models.build(spec))
    return load_model(spec)


def run_one(args: argparse.Namespace) -> None:
    """One enhancement in this process: writes the output and prints time and memory as JSON."""
    from lle.inference import enhance_tiled
    from lle.models.image_statistics import ImageStatistics

    torch.set_num_threads(args.threads)
    model = load(args.model)
    x = dark_photo(*args.size)
    statistics = ImageStatistics()
    before = peak_rss_mib()
    start = time.perf_counter()
    with torch.inference_mode():
        if args.run == 0:
            y = model(x)
        else:
            y = enhance_tiled(model, x, args.run, args.run_overlap, max_passes=args.passes, statistics=statistics)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    torch.save(y.clamp(0, 1), args.save)
    pixels = x.shape[-2] * x.shape[-1]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "before_mib": before,
                "rise_mib": peak - before,
                "bytes_per_pixel": (peak - before) * 2**20 / pixels,
                "passes": max(statistics.passes, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gladnet", help="checkpoint, official:<name>:<file>, or a model name")
    parser.add_argument("--size", type=int, nargs=2, default=(1200, 1800), metavar=("H", "W"))
    parser.add_argument("--tiles", type=int, nargs="*", default=[512, 256])
    parser.add_argument("--overlap", type=int, nargs="*", default=[32])
    parser.add_argument("--passes", type=int, default=None, help="cap on the statistics passes (default: lle's)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)  # internal: one run (0: untiled)
    parser.add_argument("--run-overlap", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passes is None:
        from lle.inference import DEFAULT_MAX_PASSES

        args.passes = DEFAULT_MAX_PASSES
    if args.run is not None:
        run_one(args)
        return

    from lle.metrics import psnr

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(0, 0)] + [(tile, overlap) for tile in args.tiles for overlap in args.overlap]
        outputs = {}
        for tile, overlap in runs:
            save = Path(tmp) / f"{tile}_{overlap}.pt"
            command = [sys.executable, __file__, "--model", args.model, "--size", *map(str, args.size)]
            command += ["--threads", str(args.threads), "--passes", str(args.passes)]
            command += ["--run", str(tile), "--run-overlap", str(overlap), "--save", str(save)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            outputs[(tile, overlap)] = torch.load(save)
            row.update(tile=tile, overlap=overlap)
            if tile:
                row["psnr_vs_whole"] = float(psnr(outputs[(tile, overlap)], outputs[(0, 0)])[0])
            results.append(row)
            print(json.dumps(row), flush=True)
    print(f"model {args.model}, image {args.size[0]}×{args.size[1]}, torch {torch.__version__}, {args.threads} threads")
    print(f"machine {platform.machine()} {platform.processor()}")
    print("| run | PSNR vs whole | passes | time | peak RSS rise |")
    print("|---|---:|---:|---:|---:|")
    for row in results:
        name = f"tile {row['tile']}, overlap {row['overlap']}" if row["tile"] else "whole image"
        score = f"{row['psnr_vs_whole']:.1f} dB" if row["tile"] else "—"
        print(f"| {name} | {score} | {row['passes']} | {row['seconds']:.1f} s | {row['rise_mib']:,.0f} MiB |")
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "size": args.size, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
