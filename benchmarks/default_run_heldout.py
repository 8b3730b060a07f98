"""The default run's checkpoint against every classical method on held-out degradations of its test scenes.

    python benchmarks/default_run_heldout.py logs/train/runs/<run>/checkpoints/best.ckpt
    python benchmarks/default_run_heldout.py <ckpt> --save-images /tmp/heldout   # input | model | dong2011 | target

The embedded test split shows data like the training data. This script asks whether the model holds up where
the synthetic generator's defaults do not reach: LOL-dark inputs (mean ≈ 0.1), much darker ones, noise above the
training range, stronger colour casts, and a camera whose colour matrix and white balance are outside the
unprocessing's four (a Nikon D700 matrix), and the wider ranges of an earlier default (ratio up to 60). Each variant degrades the test scenes' whole photographs (coffee, both
motorcycle views) with fixed seeds; PSNR/SSIM follow lle's protocol (8-bit quantised, MATLAB-style SSIM). Results
go to stdout and, with --json, to a file (docs/benchmarks.md records them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

import lle
import lle.models
from lle.data.synthetic import crop_even, make_lol_pair, seed_images, to_uint8
from lle.data.unprocess import CameraParams, RGB2XYZ, add_noise, mosaic, process, random_noise_levels, unprocess_rgb
from lle.metrics.full_reference import psnr, ssim

CLASSICAL = ("gamma", "he", "clahe", "dong2011", "lime")
TEST_PHOTOS = ("coffee", "motorcycle_left", "motorcycle_right")

# dcraw's adobe_coeff for the Nikon D700 (XYZ -> camera, ×1/10000): a camera the unprocessing never samples.
NIKON_D700 = np.array([[8139, -2171, -663], [-8747, 16541, 2295], [-1925, 2008, 8093]], dtype=np.float64) / 1e4

VARIANTS = {
    "wide": dict(ratio_range=(3, 60), shot_range=(1e-4, 0.02), red_cast_range=(0.8, 1.25), blue_cast_range=(0.8, 1.25)),  # beyond the defaults' 3-30
    "lol-dark": dict(ratio_range=(6, 9), shot_range=(1e-3, 0.01)),
    "very-dark": dict(ratio_range=(60, 100), shot_range=(1e-4, 2e-3)),
    "noisy": dict(ratio_range=(8, 20), shot_range=(0.02, 0.05)),
    "strong-cast": dict(ratio_range=(8, 20), shot_range=(1e-3, 0.01), red_cast_range=(0.65, 1.5), blue_cast_range=(0.65, 1.5)),
    "jpeg": dict(ratio_range=(8, 20), shot_range=(1e-3, 0.01), jpeg_quality_range=(30, 60), jpeg_probability=1.0),
    "other-camera": "nikon",
}


def other_camera_pair(srgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rgb2cam = NIKON_D700 @ RGB2XYZ
    rgb2cam = (rgb2cam / rgb2cam.sum(axis=-1, keepdims=True)).astype(np.float32)
    camera = CameraParams(rgb2cam, rgb_gain=1.1, red_gain=1.6, blue_gain=1.35)
    bayer = mosaic(unprocess_rgb(crop_even(srgb).astype(np.float32) / 255.0, camera))
    ratio = float(np.exp(rng.uniform(np.log(6), np.log(20))))
    shot, read = random_noise_levels(rng, (1e-3, 0.01))
    dark = add_noise(bayer / np.float32(ratio), shot, read, rng)
    cast = dataclasses.replace(camera, red_gain=camera.red_gain * 0.9, blue_gain=camera.blue_gain * 1.1)
    return to_uint8(process(dark, cast)), to_uint8(process(bayer, camera))


def pairs(variant: str, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    photos = seed_images()
    out = []
    for index, name in enumerate(TEST_PHOTOS):
        rng = np.random.default_rng([seed, index, sum(map(ord, variant))])
        spec = VARIANTS[variant]
        low, high = (
            other_camera_pair(photos[name], rng) if spec == "nikon" else make_lol_pair(photos[name], rng, **spec)
        )
        out.append((name, low, high))
    return out


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="an lle checkpoint (or official:<name>:<path>)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("--save-images", type=Path, help="write input | model | dong2011 | target strips here")
    args = parser.parse_args()

    model = lle.load_model(args.checkpoint)
    methods = {"model": model, **{name: lle.models.build(name).eval() for name in CLASSICAL}}
    table: dict[str, dict[str, dict[str, float]]] = {}
    start = time.perf_counter()
    for variant in args.variants:
        scores = {name: {"psnr": [], "ssim": []} for name in ("input", *methods)}
        for photo, low, high in pairs(variant, args.seed):
            x, target = as_tensor(low), as_tensor(high)
            outputs = {"input": x}
            with torch.inference_mode():
                outputs["model"] = model(x).clamp(0, 1)
                for name in CLASSICAL:
                    outputs[name] = methods[name](x).clamp(0, 1)
            for name, output in outputs.items():
                scores[name]["psnr"].append(float(psnr(output, target)))
                scores[name]["ssim"].append(float(ssim(output, target)))
            if args.save_images:
                strip = torch.cat([outputs[k] for k in ("input", "model", "dong2011")] + [target], dim=3)
                args.save_images.mkdir(parents=True, exist_ok=True)
                image = (strip[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                from PIL import Image

                Image.fromarray(image).save(args.save_images / f"{variant}_{photo}.png")
        table[variant] = {n: {m: float(np.mean(v)) for m, v in s.items()} for n, s in scores.items()}
        row = table[variant]
        best_classical = max(CLASSICAL, key=lambda n: row[n]["psnr"])
        best_ssim = max(CLASSICAL, key=lambda n: row[n]["ssim"])
        verdict = (
            "beats all"
            if row["model"]["psnr"] > row[best_classical]["psnr"] and row["model"]["ssim"] > row[best_ssim]["ssim"]
            else "DOES NOT beat all"
        )
        cells = "  ".join(f"{n} {row[n]['psnr']:5.2f}/{row[n]['ssim']:.3f}" for n in row)
        print(f"{variant:14s} {cells}  -> {verdict}", flush=True)
    print(f"({time.perf_counter() - start:.0f} s; PSNR dB / SSIM, mean over {', '.join(TEST_PHOTOS)})")
    if args.json:
        args.json.write_text(json.dumps({"checkpoint": str(args.checkpoint), "table": table}, indent=2) + "\n")


if __name__ == "__main__":
    main()
