"""Classical low-light enhancement baselines as parameter-free networks.

They follow the network contract (B×3×H×W in [0, 1] in, B×3×H×W out, any H×W, `size_multiple = 1`) so the
same evaluation code runs them and the trained networks. Unlike a network, each returns its output clamped
to [0, 1]: the methods define the enhanced *image*, and the colour conversions and divisions overshoot.
Everything is batched; per-image statistics (atmospheric light, mean luminance, histograms) are computed
per image, so a batch gives the same result as its images one at a time. Those a tile cannot share (a histogram,
the atmospheric light) make the method `tileable = False` (`lle.models.interface`). On packed RAW data the model configs
run them behind `lle.models.adapters.PackedRawDevelopment` (a fixed, non-original development to RGB).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale, rgb_to_ycbcr, ycbcr_to_rgb
from kornia.enhance import equalize, equalize_clahe
from kornia.filters import guided_blur

from lle.models.image_statistics import spatial_mean
from lle.models.interface import SRGB


def min_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """`size`×`size` minimum filter of B×C×H×W `x`, same size out.

    Replicate padding repeats edge pixels that are already inside the window, so at the border this is
    exactly the minimum over the part of the window inside the image (no dark or bright frame).
    """
    if size == 1:
        return x
    before, after = (size - 1) // 2, size // 2
    x = F.pad(x, (before, after, before, after), mode="replicate")
    return -F.max_pool2d(-x, size, stride=1)


def _y_cbcr(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ycbcr = rgb_to_ycbcr(x)
    return ycbcr[:, :1], ycbcr[:, 1:]


class Dong2011(nn.Module):
    """Dong et al., "Fast efficient algorithm for enhancement of low lighting video", ICME 2011.

    The inverted low-light image `R = 1 - I` looks hazy, so it is dehazed with the dark channel prior
    (He, Sun & Tang, CVPR 2009) and inverted back:

    * dark channel of R: `patch_size`² min filter of the min over channels;
    * atmospheric light A (per image, one value per channel): among the `top_fraction` pixels with the
      highest dark channel, the one with the highest intensity (mean of R over channels);
    * transmission `t = 1 - omega · minfilter(min_c R_c / A_c)`; Dong's tweak `t ← 2t²` where t < 0.5
      (`dong_tweak`), which lowers t, i.e. boosts more, where the input is darkest (R close to A);
    * `J = (R - A) / max(t, t0) + A`; output `1 - J`, clamped.

    Defaults follow the reimplementation `yfor1008/dark_image_enhance/dehaze_enhance.m` (w = 0.8, 7×7,
    0.2 %, the 2t² rule). That code takes the channel minimum of R / A per pixel, without the patch
    minimum of the dark channel prior used here; its transmission floor is 1e-7 instead of `t0`.

    Args:
        omega: fraction of the "haze" removed (w in the paper).
        patch_size: side of the min-filter window (dark channel and transmission).
        top_fraction: fraction of dark-channel pixels among which A is chosen (at least one pixel).
        t0: lower bound of the transmission in the recovery, limits the gain in dark regions.
        dong_tweak: apply `t ← 2t²` where t < 0.5; False gives plain inverted dark-channel dehazing.
    """

    size_multiple = 1
    in_channels, input_kind, upscale = 3, SRGB, 1  # sRGB in, same size out (lle.models.interface)
    tileable = False  # A is the image's haziest pixel: a tile finds its own (13–56 dB tiled at tiles ≤ 256)

    def __init__(
        self,
        omega: float = 0.8,
        patch_size: int = 7,
        top_fraction: float = 0.002,
        t0: float = 0.1,
        dong_tweak: bool = True,
    ):
        super().__init__()
        if patch_size < 1:
            raise ValueError(f"patch_size must be at least 1, got {patch_size}")
        if not 0.0 < top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
        self.omega = omega
        self.patch_size = patch_size
        self.top_fraction = top_fraction
        self.t0 = t0
        self.dong_tweak = dong_tweak

    def atmospheric_light(self, inverted: torch.Tensor) -> torch.Tensor:
        """A of the inverted image `R` (B×3×H×W), as B×3×1×1."""
        dark = min_filter(inverted.amin(dim=1, keepdim=True), self.patch_size).flatten(1)
        count = max(1, math.floor(dark.shape[1] * self.top_fraction))
        candidates = dark.topk(count, dim=1).indices  # B×count
        intensity = inverted.mean(dim=1).flatten(1).gather(1, candidates)
        brightest = candidates.gather(1, intensity.argmax(dim=1, keepdim=True))  # B×1
        channels = inverted.shape[1]
        light = inverted.flatten(2).gather(2, brightest[:, None, :].expand(-1, channels, -1))
        return light[..., None]

    def transmission(self, inverted: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
        """t (B×1×H×W) after Dong's tweak, before the `t0` floor."""
        # A channel of A is 0 only if the chosen pixel is saturated there; the floor keeps R / A finite.
        ratio = (inverted / light.clamp_min(1e-6)).amin(dim=1, keepdim=True)
        # Pixels "hazier" than A would give t < 0, which the 2t² rule would turn into a large t.
        t = (1.0 - self.omega * min_filter(ratio, self.patch_size)).clamp_min(0.0)
        if self.dong_tweak:
            t = torch.where(t < 0.5, 2.0 * t * t, t)
        return t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inverted = 1.0 - x.clamp(0.0, 1.0)
        light = self.atmospheric_light(inverted)
        t = self.transmission(inverted, light)
        dehazed = (inverted - light) / t.clamp_min(self.t0) + light
        return (1.0 - dehazed).clamp(0.0, 1.0)


class Gamma(nn.Module):
    """Global power-law (gamma) correction, `out = x ** gamma` on each RGB channel.

    With `gamma=None` (default) the exponent is chosen per image so that the mean luminance (Rec. 601 luma
    of the sRGB values) maps to `target_mean`: `gamma = log(target_mean) / log(mean)`. A fixed `gamma`
    (< 1 brightens) is the textbook baseline of Gonzalez & Woods, *Digital Image Processing*.
    """

    size_multiple = 1
    in_channels, input_kind, upscale = 3, SRGB, 1  # sRGB in, same size out (lle.models.interface)
    min_tile, min_tile_overlap = 32, 0  # pointwise, with the whole image's mean: tiles are exact

    def __init__(self, gamma: float | None = None, target_mean: float = 0.45):
        super().__init__()
        if gamma is not None and gamma <= 0:
            raise ValueError(f"gamma must be positive, got {gamma}")
        if not 0.0 < target_mean < 1.0:
            raise ValueError(f"target_mean must be in (0, 1), got {target_mean}")
        self.gamma = gamma
        self.target_mean = target_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0.0, 1.0)
        if self.gamma is not None:
            return x**self.gamma
        # Keep log(mean) away from 0 and -inf: a black or white image gets a finite exponent. The whole image's
        # mean when tiled (lle.models.image_statistics): a tile's own gave 25–36 dB against the untiled output.
        mean = spatial_mean(rgb_to_grayscale(x)).clamp(1e-4, 1.0 - 1e-4)
        return x ** (math.log(self.target_mean) / torch.log(mean))


class HistogramEqualization(nn.Module):
    """Global histogram equalization (Gonzalez & Woods, *Digital Image Processing*) of the luma only.

    `kornia.enhance.equalize` (PIL's 256-level mapping) on Y of YCbCr; Cb and Cr are kept, so hues do not
    shift as they would when equalizing R, G and B separately.
    """

    size_multiple = 1
    in_channels, input_kind, upscale = 3, SRGB, 1  # sRGB in, same size out (lle.models.interface)
    tileable = False  # the histogram is the image's: a tile equalizes its own (10–20 dB tiled at tiles ≤ 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        luma, chroma = _y_cbcr(x.clamp(0.0, 1.0))
        return ycbcr_to_rgb(torch.cat([equalize(luma), chroma], dim=1)).clamp(0.0, 1.0)


class CLAHE(nn.Module):
    """Contrast-limited adaptive histogram equalization of the luma (Zuiderveld, *Graphics Gems IV*, 1994).

    `kornia.enhance.equalize_clahe` on Y of YCbCr, Cb and Cr kept. `clip_limit` follows OpenCV's convention
    (multiple of the mean bin count per tile).

    Args:
        clip_limit: contrast limit (OpenCV's default 40 is nearly plain AHE; 2.0 is the usual choice).
        grid_size: tiles along (H, W).
    """

    size_multiple = 1
    in_channels, input_kind, upscale = 3, SRGB, 1  # sRGB in, same size out (lle.models.interface)
    tileable = False  # its grid divides the image it is given: a tile gets a grid of its own (17–32 dB tiled)

    def __init__(self, clip_limit: float = 2.0, grid_size: tuple[int, int] = (8, 8)):
        super().__init__()
        self.clip_limit = float(clip_limit)  # kornia rejects an int
        self.grid_size = (int(grid_size[0]), int(grid_size[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        luma, chroma = _y_cbcr(x.clamp(0.0, 1.0))
        # kornia needs each side longer than the grid; smaller images are replicate-padded, then cropped.
        h, w = luma.shape[-2:]
        pad_h, pad_w = max(self.grid_size[0] + 1 - h, 0), max(self.grid_size[1] + 1 - w, 0)
        if pad_h or pad_w:
            luma = F.pad(luma, (0, pad_w, 0, pad_h), mode="replicate")
        luma = equalize_clahe(luma, self.clip_limit, self.grid_size)[..., :h, :w]
        return ycbcr_to_rgb(torch.cat([luma, chroma], dim=1)).clamp(0.0, 1.0)


class LIME(nn.Module):
    """LIME (Guo, Li & Ling, "LIME: Low-light image enhancement via illumination map estimation", TIP 2017),
    practical variant.

    The initial illumination is `T = max_c I`. **Simplification:** LIME refines T by a structure-aware
    optimisation (its sped-up solver); here, with `refine="guided"`, T is refined by the edge-preserving
    guided filter `kornia.filters.guided_blur(T, T, kernel_size, guided_eps)` (He, Sun & Tang, ECCV 2010),
    which plays the same role (smooth texture, keep strong edges) at a fraction of the cost. `refine="none"`
    uses the initial T. The output is `I / T ** gamma`, clamped; LIME's optional BM3D denoising is not done.

    Args:
        gamma: exponent on the illumination (LIME: 0.8).
        refine: "guided" (documented simplification of LIME's optimisation) or "none".
        kernel_size: guided-filter window (15 = radius 7).
        guided_eps: guided-filter regularisation, in squared intensity units.
        min_illumination: floor of T, bounds the gain (`min_illumination ** -gamma`) in black regions.
    """

    size_multiple = 1
    in_channels, input_kind, upscale = 3, SRGB, 1  # sRGB in, same size out (lle.models.interface)
    # Local: the 15×15 guided filter reaches 14 px. Tiled ≥ 51.7 dB from tile 48, overlap 16 (43.7 at 32/8): the
    # smallest tile and overlap 5 dB above 45 dB (`benchmarks/tiled_seams.py --model lime --sweep`, docs/benchmarks.md).
    min_tile, min_tile_overlap = 48, 16

    def __init__(
        self,
        gamma: float = 0.8,
        refine: str = "guided",
        kernel_size: int = 15,
        guided_eps: float = 1e-3,
        min_illumination: float = 1e-3,
    ):
        super().__init__()
        if refine not in ("guided", "none"):
            raise ValueError(f"refine must be 'guided' or 'none', got {refine!r}")
        self.gamma = gamma
        self.refine = refine
        self.kernel_size = kernel_size
        self.guided_eps = guided_eps
        self.min_illumination = min_illumination

    def illumination(self, x: torch.Tensor) -> torch.Tensor:
        """Refined illumination map T (B×1×H×W), floored at `min_illumination`."""
        t = x.amax(dim=1, keepdim=True)
        if self.refine == "guided":
            # Replicate borders: reflect needs sides longer than the window radius, this works at any size.
            t = guided_blur(t, t, self.kernel_size, self.guided_eps, border_type="replicate")
        return t.clamp(self.min_illumination, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0.0, 1.0)
        return (x / self.illumination(x) ** self.gamma).clamp(0.0, 1.0)
