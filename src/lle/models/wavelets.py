"""Parameter-free orthonormal 2-D Haar wavelet transform, one level (J = 1).

For each 2×2 block  ┌a b┐  of a channel (rows = height, columns = width) the four coefficients are
                    └c d┘

    LL = (a + b + c + d) / 2      approximation
    LH = (a + b − c − d) / 2      low-pass along width, high-pass along height
    HL = (a − b + c − d) / 2      high-pass along width, low-pass along height
    HH = (a − b − c + d) / 2      diagonal detail

These are the signs and names of `pytorch_wavelets.DWTForward(J=1, wave="haar")` (its `yh` bands are
LH, HL, HH in this order) and of PyWavelets' `dwt2(…, "haar")` (cA, cH, cV, cD). The 4×4 matrix is
symmetric and orthogonal, so the transform preserves energy and is its own inverse on each block.

The 4C output channels can be laid out in two ways:
    "channel_major": [c0: b0 b1 b2 b3, c1: b0 b1 b2 b3, …]   index = c·4 + band
    "band_major":    [b0: c0 c1 …, b1: c0 c1 …, …]            index = band·C + c
with the band sequence b0…b3 chosen by `bands`. Networks ported from code that flattened a wavelet
library's output differently on the way down and on the way up (ABSGN) need both knobs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

HAAR_BANDS = ("LL", "LH", "HL", "HH")
LAYOUTS = ("channel_major", "band_major")


def _check(bands: Sequence[str], layout: str) -> tuple[str, ...]:
    bands = tuple(bands)
    if sorted(bands) != sorted(HAAR_BANDS):
        raise ValueError(f"bands must be a permutation of {HAAR_BANDS}, got {bands}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    return bands


def haar_dwt(x: torch.Tensor, bands: Sequence[str] = HAAR_BANDS, layout: str = "channel_major") -> torch.Tensor:
    """B×C×H×W (H, W even) → B×4C×H/2×W/2 Haar coefficients in the requested channel order."""
    bands = _check(bands, layout)
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"the Haar DWT needs an even height and width, got {h}x{w}")
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    coeffs = {
        "LL": (a + b + c + d) / 2,
        "LH": (a + b - c - d) / 2,
        "HL": (a - b + c - d) / 2,
        "HH": (a - b - c + d) / 2,
    }
    dim = 2 if layout == "channel_major" else 1
    return torch.stack([coeffs[name] for name in bands], dim=dim).flatten(1, 2)


def haar_idwt(y: torch.Tensor, bands: Sequence[str] = HAAR_BANDS, layout: str = "channel_major") -> torch.Tensor:
    """B×4C×h×w coefficients read in the given channel order → B×C×2h×2w image."""
    bands = _check(bands, layout)
    if y.shape[1] % 4:
        raise ValueError(f"the inverse Haar DWT needs a multiple of 4 channels, got {y.shape[1]}")
    c = y.shape[1] // 4
    shape = (c, 4) if layout == "channel_major" else (4, c)
    grouped = y.unflatten(1, shape)
    band_dim = 2 if layout == "channel_major" else 1
    coeffs = dict(zip(bands, grouped.unbind(band_dim)))
    ll, lh, hl, hh = (coeffs[name] for name in HAAR_BANDS)
    # The matrix is its own inverse; [a, b, c, d] per channel is exactly pixel_shuffle's sub-pixel order.
    pixels = torch.stack(
        [(ll + lh + hl + hh) / 2, (ll + lh - hl - hh) / 2, (ll - lh + hl - hh) / 2, (ll - lh - hl + hh) / 2],
        dim=2,
    )
    return F.pixel_shuffle(pixels.flatten(1, 2), 2)


class HaarDWT(nn.Module):
    """`haar_dwt` as a module, so the channel order shows up when the network is printed."""

    def __init__(self, bands: Sequence[str] = HAAR_BANDS, layout: str = "channel_major"):
        super().__init__()
        self.bands, self.layout = _check(bands, layout), layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return haar_dwt(x, self.bands, self.layout)

    def extra_repr(self) -> str:
        return f"bands={self.bands}, layout={self.layout!r}"


class HaarIDWT(nn.Module):
    """`haar_idwt` as a module, so the channel order shows up when the network is printed."""

    def __init__(self, bands: Sequence[str] = HAAR_BANDS, layout: str = "channel_major"):
        super().__init__()
        self.bands, self.layout = _check(bands, layout), layout

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return haar_idwt(y, self.bands, self.layout)

    def extra_repr(self) -> str:
        return f"bands={self.bands}, layout={self.layout!r}"
