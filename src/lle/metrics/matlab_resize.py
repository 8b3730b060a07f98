"""MATLAB's `imresize(im, scale)` with its default bicubic kernel, antialiased when shrinking.

NIQE's reference release halves the image with it between its two scales, so a faithful NIQE needs the same
weights: Keys' cubic with a = -0.5, stretched by 1/scale when shrinking (the antialiasing, support 4/scale),
each output pixel's weights normalised to sum to one, and the borders mirrored (MATLAB's `[1:n, n:-1:1]`
index reflection). The resize is separable: one weight matrix per axis, applied as two matrix products (exact
in float64; MATLAB resizes the first dimension first, which changes rounding only).
"""

from __future__ import annotations

import math

import torch


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's `cubic`)."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_matrix(in_length: int, out_length: int, scale: float, dtype=torch.float64, device=None) -> torch.Tensor:
    """The out_length×in_length matrix that resizes one axis as MATLAB's `imresize` does (bicubic, antialiased)."""
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # the output pixel's centre in input coordinates (1-based)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if antialias else cubic(distance)
    weights = weights / weights.sum(1, keepdim=True)
    # Mirror out-of-range taps back into the image: MATLAB's aux = [1:n, n:-1:1], indexed modulo 2n.
    mirror = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    source = mirror[(indices.long() - 1) % (2 * in_length)]
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, source, weights)
    return matrix.to(dtype=dtype, device=device)


def imresize(image: torch.Tensor, scale: float) -> torch.Tensor:
    """Resize the last two axes of `image` (…×H×W) by `scale`, to ceil(scale·H)×ceil(scale·W), as MATLAB does."""
    h, w = image.shape[-2:]
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    rows = resize_matrix(h, out_h, scale, image.dtype, image.device)
    cols = resize_matrix(w, out_w, scale, image.dtype, image.device)
    return rows @ image @ cols.T
