"""What the default model's noise gate changes on a photograph: input | without the gate | with it (data.md §3.3).

    python benchmarks/noise_gate_pictures.py CHECKPOINT --out gate.jpg PHOTO [PHOTO ...]

CHECKPOINT is a run of `model=alen_quick` (an `ExposureNormalized` network with `noise_gate`); each photograph is
shrunk to at most 480 pixels a side and enhanced twice, once with the gate switched off. Each row is labelled with
the re-exposed input's noise level σ (8-bit luma codes): at σ ≤ 2.5 the gated output is the re-exposed input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from lle.inference import load_model
from lle.models.exposure import ExposureNormalized, match_exposure
from lle.models.noise_level import noise_sigma


def gated_wrapper(net: torch.nn.Module) -> ExposureNormalized:
    wrapper = next((m for m in net.modules() if isinstance(m, ExposureNormalized)), None)
    if wrapper is None or wrapper.noise_gate is None:
        raise SystemExit("the checkpoint's network has no noise gate (model=alen_quick has one)")
    return wrapper


def row(net: torch.nn.Module, wrapper: ExposureNormalized, path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((480, 480))
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    sigma = float(noise_sigma(match_exposure(x, wrapper.exposure)))
    gate, outputs = wrapper.noise_gate, [x]
    try:
        for setting in (None, gate):
            wrapper.noise_gate = setting
            with torch.no_grad():
                outputs.append(net(x).clamp(0, 1))
    finally:
        wrapper.noise_gate = gate
    tiles = [(o[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for o in outputs]
    picture = Image.fromarray(np.concatenate(tiles, axis=1))
    draw, width = ImageDraw.Draw(picture), x.shape[-1]
    for i, label in enumerate(("input", "without the gate", f"with the gate (sigma {sigma:.1f})")):
        draw.rectangle([i * width + 4, 4, i * width + 8 + 7 * len(label), 18], fill=(0, 0, 0))
        draw.text((i * width + 6, 5), label, fill=(255, 255, 255))
    print(f"{path}: noise level {sigma:.2f}")
    return np.asarray(picture)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    net = load_model(args.checkpoint).net.eval()
    wrapper = gated_wrapper(net)
    rows = [row(net, wrapper, path) for path in args.photos]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out, quality=85)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
