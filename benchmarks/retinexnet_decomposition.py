"""Retinex-Net's released DecomNet on real photographs: input | reflectance | illumination, one row per image.

    python benchmarks/retinexnet_decomposition.py RetinexNet/model/Decom <LOL>/eval15/low/1.png … --out out.jpg

The weights are the authors' (`official:retinexnet_decom`, docs/official_weights.md); nothing is trained here.
Prints each image's mean reflectance and illumination: on a real low-light capture the reflectance should be
bright and the illumination dark and smooth, as the paper's figures show.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lle.data.io import read_image, to_float_tensor
from lle.models import from_official


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="Retinex-Net's Decom/ folder (or the model folder holding it)")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the picture to write (.jpg or .png)")
    parser.add_argument("--height", type=int, default=240, help="height of each row in pixels")
    args = parser.parse_args()

    decom = from_official("retinexnet_decom", args.weights).eval()
    rows = []
    for path in args.images:
        image = read_image(path)
        with torch.no_grad():
            reflectance, illumination = decom(to_float_tensor(image)[None])
        print(
            f"{path.name}: mean input {image.mean() / 255:.3f}, reflectance {reflectance.mean():.3f}, "
            f"illumination {illumination.mean():.3f}"
        )
        panels = [image, to_uint8(reflectance[0]), to_uint8(illumination[0].expand(3, -1, -1))]
        width = round(image.shape[1] * args.height / image.shape[0])
        rows.append(np.concatenate([np.asarray(Image.fromarray(p).resize((width, args.height))) for p in panels], 1))
    widest = max(row.shape[1] for row in rows)
    sheet = np.concatenate([np.pad(row, ((0, 0), (0, widest - row.shape[1]), (0, 0))) for row in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=88)
    print(f"wrote {args.out}")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


if __name__ == "__main__":
    main()
