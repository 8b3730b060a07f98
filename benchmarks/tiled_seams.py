"""Tiles without seams: PSNR of tiled against whole-image enhancement, with the time and peak memory of each.

    python benchmarks/tiled_seams.py --model best.ckpt                       # 1200×1800, tiles 512 and 256
    python benchmarks/tiled_seams.py --model best.ckpt --size 600 900 --tiles 256 --overlap 32 64
    python benchmarks/tiled_seams.py --model gladnet --size 240 360 --tiles 128    # seeded default weights
    python benchmarks/tiled_seams.py --model absgn --size 256 384 --sweep --overlap 0 8 16 32 64   # PSNR only

`--model` is an lle checkpoint (or official:<name>:<file>) or a model name (seeded untrained weights; `--set`
overrides its constructor arguments, e.g. `--set srgb_input=true in_channels=3` for ALEN on sRGB). The
image is a photograph that ships with scikit-image (`--image`), resized to `--size` and darkened (as in
tiled_enhance_memory.py), with Gaussian `--noise` σ, or uniform noise (`--image noise`); a network on packed
Bayer data gets the photograph's R, G, B, G as its four channels.
Every run (the whole image, then each tile size) is a process of its own, so its peak RSS is its own high-water
mark; `peak` is the rise during the enhancement, above weights and input. The untiled run's rise divided by the
pixels is the network's bytes per pixel (`lle.models.complexity.FORWARD_BYTES_PER_PIXEL`). PSNR compares outputs
clamped to [0, 1], as they are written. `passes` is the number of passes over the tiles that the statistics took
(1 for a local network); `--passes` caps it, so `--passes 1` shows what tiling without shared statistics gives.

`--sweep` runs everything in this one process and measures PSNR only (no memory): every tile × overlap that
`lle-enhance` accepts before it asks the network (tile ≥ max(32, 2 × overlap); `--tiles` defaults to 32 48 64 96
128 192 256 then), and per overlap the smallest tile from which every measured tile reaches `--target` (45 dB, the
documented figure): what a network's `min_tile` and `min_tile_overlap` are read from (`lle.models.interface`).
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


def dark_photo(height: int, width: int, channels: int = 3, name: str = "astronaut", noise: float = 0) -> torch.Tensor:
    """A scikit-image photograph darkened ÷ 7, plus Gaussian `noise` (σ); `name="noise"`: uniform noise in [0, 0.25],
    the hardest content for tiles (no two regions alike)."""
    from PIL import Image
    from skimage import data

    generator = torch.Generator().manual_seed(0)
    if name == "noise":
        x = torch.rand(1, 3, height, width, generator=generator) * 0.25
    else:
        photo = np.asarray(
            Image.fromarray(getattr(data, name)()).convert("RGB").resize((width, height), Image.BILINEAR)
        )
        x = torch.from_numpy((photo // 7).astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
    if noise:
        x = (x + noise * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    return x[:, [0, 1, 2, 1]].contiguous() if channels == 4 else x  # packed Bayer: SID's R, G, B, G order


def load(spec: str, overrides: list[str] = ()):
    import yaml

    import lle.models
    from lle.inference import Enhancer, load_model

    if spec in lle.models.available():
        torch.manual_seed(0)
        settings = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in overrides)}
        return Enhancer(lle.models.build(spec, **settings))
    return load_model(spec)


def run_one(args: argparse.Namespace) -> None:
    """One enhancement in this process: writes the output and prints time and memory as JSON."""
    from lle.inference import enhance_tiled
    from lle.models.image_statistics import ImageStatistics

    torch.set_num_threads(args.threads)
    model = load(args.model, args.set)
    x = dark_photo(*args.size, model.info.in_channels, args.image, args.noise)
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


def sweep(args: argparse.Namespace) -> list[dict]:
    """Every accepted tile × overlap in this process: PSNR against the whole image, and the time."""
    from lle.inference import enhance_tiled, smallest_tile
    from lle.metrics import psnr
    from lle.models.image_statistics import ImageStatistics

    torch.set_num_threads(args.threads)
    model = load(args.model, args.set)
    x = dark_photo(*args.size, model.info.in_channels, args.image, args.noise)
    start = time.perf_counter()
    with torch.inference_mode():
        whole = model(x).clamp(0, 1)
    rows = [{"tile": 0, "overlap": 0, "seconds": time.perf_counter() - start, "passes": 1}]
    print(json.dumps(rows[0]), flush=True)
    for overlap in args.overlap:
        for tile in args.tiles:
            if tile < smallest_tile(overlap) or overlap >= tile:
                continue  # refused by every network
            statistics = ImageStatistics()
            start = time.perf_counter()
            with torch.inference_mode():
                y = enhance_tiled(model, x, tile, overlap, max_passes=args.passes, statistics=statistics)
            row = {"tile": tile, "overlap": overlap, "seconds": time.perf_counter() - start}
            row.update(passes=max(statistics.passes, 1), psnr_vs_whole=float(psnr(y.clamp(0, 1), whole)[0]))
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def smallest_reaching(rows: list[dict], overlap: int, target: float) -> int | None:
    """The smallest tile from which every measured tile at `overlap` reaches `target` (None: not even the largest)."""
    scores = sorted((r["tile"], r["psnr_vs_whole"]) for r in rows if r["tile"] and r["overlap"] == overlap)
    smallest = None
    for tile, score in reversed(scores):
        if score < target:
            break
        smallest = tile
    return smallest


def print_sweep(args: argparse.Namespace, rows: list[dict]) -> None:
    overlaps = [o for o in args.overlap if any(r["tile"] and r["overlap"] == o for r in rows)]
    settings = f" ({' '.join(args.set)})" if args.set else ""
    size = f"{args.size[0]}×{args.size[1]}"
    image = args.image + (f" + noise {args.noise:g}" if args.noise else "")
    print(f"model {args.model}{settings}, {image} {size}, torch {torch.__version__}, ", end="")
    print(f"{args.threads} threads, whole image {rows[0]['seconds']:.1f} s; PSNR of tiled vs whole (dB)")
    print("| tile | " + " | ".join(f"overlap {o}" for o in overlaps) + " |")
    print("|---:|" + "---:|" * len(overlaps))
    for tile in args.tiles:
        cells = []
        for overlap in overlaps:
            row = next((r for r in rows if r["tile"] == tile and r["overlap"] == overlap), None)
            cells.append(f"{row['psnr_vs_whole']:.1f}" if row else "—")
        print(f"| {tile} | " + " | ".join(cells) + " |")
    for overlap in overlaps:
        smallest = smallest_reaching(rows, overlap, args.target)
        print(f"overlap {overlap}: smallest tile reaching {args.target:g} dB: {smallest or 'none measured'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gladnet", help="checkpoint, official:<name>:<file>, or a model name")
    parser.add_argument("--size", type=int, nargs=2, default=(1200, 1800), metavar=("H", "W"))
    parser.add_argument("--image", default="astronaut", help="a scikit-image photograph (coffee, …) or noise")
    parser.add_argument("--noise", type=float, default=0.0, help="Gaussian noise (σ) added to the image")
    parser.add_argument("--tiles", type=int, nargs="*", help="tile sizes (default: 512 256; --sweep: 32 … 256)")
    parser.add_argument("--overlap", type=int, nargs="*", default=[32])
    parser.add_argument("--passes", type=int, default=None, help="cap on the statistics passes (default: lle's)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="constructor overrides (model names)")
    parser.add_argument("--sweep", action="store_true", help="one process, PSNR only, every accepted tile × overlap")
    parser.add_argument("--target", type=float, default=45.0, help="PSNR the sweep looks for (dB)")
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
    if args.tiles is None:
        args.tiles = [32, 48, 64, 96, 128, 192, 256] if args.sweep else [512, 256]
    if args.sweep:
        rows = sweep(args)
        print_sweep(args, rows)
        if args.out:
            record = {"model": args.model, "set": args.set, "image": args.image, "noise": args.noise, "size": args.size}
            record.update(target=args.target, runs=rows)
            args.out.write_text(json.dumps(record, indent=1))
        return

    from lle.metrics import psnr

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(0, 0)] + [(tile, overlap) for tile in args.tiles for overlap in args.overlap]
        outputs = {}
        for tile, overlap in runs:
            save = Path(tmp) / f"{tile}_{overlap}.pt"
            command = [sys.executable, __file__, "--model", args.model, "--size", *map(str, args.size)]
            command += ["--threads", str(args.threads), "--passes", str(args.passes), "--image", args.image]
            command += ["--noise", str(args.noise)]
            command += ["--set", *args.set]
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
