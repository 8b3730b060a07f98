"""The same crops from every row of a leaderboard: the input, each trained network of a sweep, each classical method
lle ships and the reference, one column each, one row per image.

    python benchmarks/leaderboard_grid.py logs/train/multiruns/<sweep> --pairs <LOL>/eval15 --images 1 111 778 \
        --out leaderboard_grid.jpg

Each network is the best checkpoint of its job (`checkpoints/best.ckpt`, selected on validation by the run),
applied to the whole test image as lle-eval applies it; columns are in the order of the runs' test PSNR. The crop of
each image is the square (side --crop, in a 3×3 grid of candidate positions) where the reference has the most
detail (mean gradient magnitude), so that smoothing and noise show; the rule is fixed, not chosen per method.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import lle
import lle.models
from lle.data.io import read_image, to_float_tensor

CLASSICAL = ("gamma", "he", "clahe", "dong2011", "lime")
LABEL_HEIGHT = 18


def trained_runs(sweep: Path) -> list[tuple[str, Path, float]]:
    """(model, best checkpoint, test PSNR) of every finished job of the sweep, best PSNR first."""
    runs = []
    for metrics_file in sorted(sweep.glob("*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        best = metrics_file.parent / "checkpoints" / "best.ckpt"
        if metrics.get("status") == "ok" and best.is_file():
            runs.append((metrics.get("choice/model", metrics_file.parent.name), best, metrics.get("test/psnr", 0.0)))
    if not runs:
        raise SystemExit(f"{sweep}: no finished job with checkpoints/best.ckpt")
    return sorted(runs, key=lambda run: -run[2])


def detailed_crop(reference: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left corner of the candidate square (3×3 grid) where the reference's mean gradient is largest."""
    grey = reference.astype(np.float64).mean(axis=2)
    gradient = np.hypot(*np.gradient(grey))
    h, w = grey.shape
    corners = [(round(t * (h - side)), round(u * (w - side))) for t in (0, 0.5, 1) for u in (0, 0.5, 1)]
    return max(corners, key=lambda c: gradient[c[0] : c[0] + side, c[1] : c[1] + side].mean())


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a multirun directory of lle-train (experiment=real_lol)")
    parser.add_argument("--pairs", type=Path, required=True, help="folder with low/ and high/ (e.g. LOL's eval15)")
    parser.add_argument("--images", nargs="+", required=True, help="file stems in low/ and high/, e.g. 1 111 778")
    parser.add_argument("--crop", type=int, default=160, help="side of each crop in pixels")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    methods = {"input": lambda x: x}
    for model, checkpoint, _psnr in trained_runs(args.sweep):
        enhancer = lle.load_model(checkpoint)
        methods[model] = lambda x, enhancer=enhancer: lle.enhance(enhancer, x, tile=0)
    for name in CLASSICAL:
        net = lle.models.build(name).eval()
        methods[name] = lambda x, net=net: net(x)

    columns: list[dict[str, np.ndarray]] = []
    for stem in args.images:
        low_path = next((p for p in (args.pairs / "low").glob(f"{stem}.*")), None)
        high_path = next((p for p in (args.pairs / "high").glob(f"{stem}.*")), None)
        if low_path is None or high_path is None:
            raise SystemExit(f"{args.pairs}: no low/{stem}.* and high/{stem}.* pair")
        low, high = read_image(low_path), read_image(high_path)
        if args.crop > min(high.shape[:2]):
            raise SystemExit(f"--crop {args.crop}: larger than {high_path} ({high.shape[1]}×{high.shape[0]})")
        top, left = detailed_crop(high, args.crop)
        window = (slice(top, top + args.crop), slice(left, left + args.crop))
        crops = {}
        with torch.no_grad():
            for name, method in methods.items():
                crops[name] = to_uint8(method(to_float_tensor(low)[None]))[window]
                print(f"{stem}: {name}", flush=True)
        crops["reference"] = high[window]
        columns.append(crops)

    names = [*methods, "reference"]
    header = Image.new("RGB", (args.crop * len(names), LABEL_HEIGHT), "white")
    draw = ImageDraw.Draw(header)
    for i, name in enumerate(names):
        draw.text((i * args.crop + 4, 4), name, fill="black")
    rows = [np.asarray(header), *[np.concatenate([column[name] for name in names], axis=1) for column in columns]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out, quality=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
