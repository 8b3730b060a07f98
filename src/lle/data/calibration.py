"""What a low-light capture looks like next to its reference: the statistics the embedded generator is set from.

`pair_statistics(low, high)` measures one aligned pair of sRGB images (H×W×3 uint8); `summarise` gives the
10th/50th/90th percentiles over many pairs. The same code measures real captures (LOL's training pairs) and the
generator's synthetic pairs, so the two can be put side by side (`benchmarks/calibrate_lowlight.py`,
docs/specs/data.md §3.1). Every statistic is defined so that a pure exposure change of a clean image reads
neutral: ratio = the gain, noise 0, black clip 0, shadow contrast 1, cast 1, chroma ratio 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import uniform_filter

# Rec. 709 / sRGB luminance weights of linear RGB.
LUMINANCE_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])
NOISE_WINDOW = 5  # pixels: the local mean the noise is measured around
NOISE_LEVELS = (2.0, 40.0)  # 8-bit codes of the low image's local mean where noise is measured


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The sRGB decoding curve (IEC 61966-2-1) on values in [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, None)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def mean_luminance(srgb: np.ndarray) -> float:
    """Mean linear luminance of an sRGB image in [0, 1] (0.18: photographic mid-grey)."""
    return float((srgb_to_linear(srgb) @ LUMINANCE_WEIGHTS).mean())


def mean_chroma(srgb: np.ndarray) -> float:
    """Mean CIELAB chroma C* = √(a*² + b*²) of an sRGB image in [0, 1] (D65)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.clip(srgb, 0.0, 1.0))
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


@dataclass(frozen=True)
class PairStatistics:
    """One low/reference pair. Brightness is the mean sRGB value over pixels and channels."""

    low_brightness: float
    high_brightness: float
    high_luminance: float  # the reference's mean linear luminance
    exposure_ratio: float  # mean linear luminance, reference / low
    noise_r: float  # noise standard deviation of the low image in 8-bit codes, per channel
    noise_g: float
    noise_b: float
    noise_correlation: float  # of the noise between horizontally adjacent pixels: 0 white, ~0.5 bilinear-demosaicked
    black_clip: float  # fraction of pixels black (code ≤ 1) in the low image where the reference is not dark
    shadow_contrast: float  # low/reference linear ratio in the reference's highlights over its shadows
    cast_r: float  # the low image's red / green balance over the reference's (linear means)
    cast_b: float
    chroma_ratio: float  # C* of the low image (averaged over 8×8 blocks, re-exposed) over the reference's


def pair_statistics(low: np.ndarray, high: np.ndarray) -> PairStatistics:
    """Statistics of an aligned (low, reference) pair of H×W×3 uint8 sRGB images."""
    if low.shape != high.shape or low.ndim != 3 or low.shape[2] != 3:
        raise ValueError(f"expected two H×W×3 images of one size, got {low.shape} and {high.shape}")
    lo, hi = low.astype(np.float64) / 255.0, high.astype(np.float64) / 255.0
    lo_lin, hi_lin = srgb_to_linear(lo), srgb_to_linear(hi)
    lo_y, hi_y = lo_lin @ LUMINANCE_WEIGHTS, hi_lin @ LUMINANCE_WEIGHTS
    ratio = hi_y.mean() / max(lo_y.mean(), 1e-12)

    # Shadows vs highlights of the reference (its 25th and 90th percentiles, ±10 %): a pure exposure change
    # keeps low/reference constant; a camera that crushes its dark frame's shadows raises the ratio above 1.
    def low_over_high(q: float) -> float:
        level = np.quantile(hi_y, q)
        near = (hi_y >= 0.9 * level) & (hi_y <= 1.1 * level)
        return float(lo_y[near].mean() / max(hi_y[near].mean(), 1e-12)) if near.any() else float("nan")

    shadow_contrast = low_over_high(0.9) / max(low_over_high(0.25), 1e-12)
    lit = hi_y > 0.02
    black_clip = float((low.max(axis=-1)[lit] <= 1).mean()) if lit.any() else 0.0

    means_lo, means_hi = lo_lin.reshape(-1, 3).mean(0), hi_lin.reshape(-1, 3).mean(0)
    cast_r = (means_lo[0] / means_lo[1]) / (means_hi[0] / means_hi[1])
    cast_b = (means_lo[2] / means_lo[1]) / (means_hi[2] / means_hi[1])

    # Chroma over 8×8 blocks: averaging first keeps the low image's noise out of its colour.
    def blocks(x: np.ndarray, k: int = 8) -> np.ndarray:
        h, w = (x.shape[0] // k) * k, (x.shape[1] // k) * k
        return x[:h, :w].reshape(h // k, k, w // k, k, 3).mean(axis=(1, 3))

    lo_blocks, hi_blocks = blocks(lo_lin), blocks(hi_lin)
    gain = (hi_blocks @ LUMINANCE_WEIGHTS).mean() / max((lo_blocks @ LUMINANCE_WEIGHTS).mean(), 1e-12)
    chroma_hi = mean_chroma(linear_to_srgb(hi_blocks))
    chroma_ratio = mean_chroma(linear_to_srgb(lo_blocks * gain)) / max(chroma_hi, 1e-6)

    noise = [_noise(low[..., c].astype(np.float64), hi[..., c]) for c in range(3)]
    correlations = [_noise_correlation(low[..., c].astype(np.float64), hi[..., c]) for c in range(3)]
    correlations = [c for c in correlations if np.isfinite(c)]
    correlation = float(np.mean(correlations)) if correlations else float("nan")
    return PairStatistics(
        low_brightness=float(lo.mean()),
        high_brightness=float(hi.mean()),
        high_luminance=float(hi_y.mean()),
        exposure_ratio=float(ratio),
        noise_r=noise[0],
        noise_g=noise[1],
        noise_b=noise[2],
        noise_correlation=correlation,
        black_clip=black_clip,
        shadow_contrast=float(shadow_contrast),
        cast_r=float(cast_r),
        cast_b=float(cast_b),
        chroma_ratio=float(chroma_ratio),
    )


def _flat_deviation(low_codes: np.ndarray, high_channel: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(the low channel minus its `window`×`window` local mean, where that is noise): the mask is where the reference
    varies by under ~1.4 codes within the window and the low image's local mean lies within `NOISE_LEVELS`."""
    mean = uniform_filter(low_codes, window)
    reference_var = uniform_filter(high_channel**2, window) - uniform_filter(high_channel, window) ** 2
    flat = (reference_var < 2 * (1 / 255) ** 2) & (mean >= NOISE_LEVELS[0]) & (mean <= NOISE_LEVELS[1])
    return low_codes - mean, flat


def _noise(low_codes: np.ndarray, high_channel: np.ndarray) -> float:
    """Noise std (8-bit codes) of one low channel: the spread around its local mean where the reference is flat.

    The median over the flat pixels' absolute deviations (scaled to a Gaussian σ) keeps edges out.
    """
    n = NOISE_WINDOW
    deviation, flat = _flat_deviation(low_codes, high_channel, n)
    if flat.sum() < 100:
        return float("nan")
    return float(1.4826 * np.median(np.abs(deviation[flat] * np.sqrt(n * n / (n * n - 1)))))


def _noise_correlation(low_codes: np.ndarray, high_channel: np.ndarray) -> float:
    """Correlation of one low channel's noise (its deviation from a 7×7 local mean, where the reference is flat)
    between horizontally adjacent pixels: ~0 for white noise, ~0.5 after a bilinear demosaic."""
    deviation, flat = _flat_deviation(low_codes, high_channel, 7)
    pairs = flat[:, :-1] & flat[:, 1:]
    if pairs.sum() < 500:
        return float("nan")
    left, right = deviation[:, :-1][pairs], deviation[:, 1:][pairs]
    if left.std() == 0 or right.std() == 0:
        return float("nan")
    return float(np.corrcoef(left, right)[0, 1])


def summarise(statistics: list[PairStatistics]) -> dict[str, dict[str, float]]:
    """{statistic: {p10, median, p90}} over pairs (NaNs, e.g. no flat region, left out)."""
    table = {}
    for name in asdict(statistics[0]):
        values = np.array([getattr(s, name) for s in statistics], dtype=np.float64)
        values = values[np.isfinite(values)]
        p10, p50, p90 = np.percentile(values, [10, 50, 90]) if values.size else (float("nan"),) * 3
        table[name] = {"p10": float(p10), "median": float(p50), "p90": float(p90)}
    return table
