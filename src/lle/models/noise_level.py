"""How noisy an sRGB image is, in 8-bit luma codes: Immerkær's fast estimate of Gaussian noise.

Immerkær (1996, "Fast noise variance estimation") convolves the image with the difference of two 3×3
Laplacians, which cancels locally smooth and linear structure and keeps noise, and reads the noise's standard
deviation from the mean absolute response: σ = √(π/2) / 6 · mean |I ∗ N|. Fine texture and edges respond too,
so a clean photograph reads about 1–2.5 codes and a noisy dark frame, once brightened, 5–20
(docs/specs/data.md §3.3). The mean goes through `spatial_mean`, so tiles of one image share the whole image's
value (lle.models.image_statistics).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale

from lle.models.image_statistics import spatial_mean

_KERNEL = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))


def noise_sigma(srgb: torch.Tensor) -> torch.Tensor:
    """B×1×1×1 noise standard deviation of sRGB B×3×H×W in [0, 1], in 8-bit codes of its luma."""
    luma = rgb_to_grayscale(srgb) * 255.0  # Rec. 601 luma of the sRGB values, as the figures are given in
    kernel = srgb.new_tensor(_KERNEL).view(1, 1, 3, 3)
    # Replicated borders keep the map the size of the image (a tile's owned part is then where it belongs).
    response = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="replicate"), kernel)
    return math.sqrt(math.pi / 2.0) / 6.0 * spatial_mean(response.abs())
