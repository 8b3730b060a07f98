"""Paired geometric augmentation on H×W×C arrays: the low and the normal image move together."""

from __future__ import annotations

import numpy as np


def random_paired_crop(
    low: np.ndarray, high: np.ndarray, size: int, rng: np.random.Generator, scale: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Crop `size`×`size` from `low` and the matching `size·scale` square from `high`.

    `scale` is the target/input resolution ratio (1 for sRGB pairs, 2 for packed Bayer RAW).
    """
    h, w = low.shape[:2]
    if h < size or w < size:
        raise ValueError(f"crop size {size} is larger than the image ({h}x{w})")
    top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    s = scale
    return (low[top : top + size, left : left + size], high[top * s : (top + size) * s, left * s : (left + size) * s])


def dihedral(image: np.ndarray, mode: int) -> np.ndarray:
    """One of the 8 flips/rotations by 90° (mode 0 = identity), as in most LLIE training code."""
    if mode >= 4:
        image = image[:, ::-1]
    return np.rot90(image, k=mode % 4, axes=(0, 1))


def random_dihedral(
    low: np.ndarray, high: np.ndarray, rng: np.random.Generator, modes: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    mode = int(rng.integers(0, modes))
    return dihedral(low, mode), dihedral(high, mode)
