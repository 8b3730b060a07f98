"""No-reference image quality: NIQE (Mittal, Soundararajan and Bovik, IEEE SPL 2013), lower is better.

`niqe(x)` follows the authors' MATLAB release (`niqe.m`, `computequality.m`, `computefeature.m`,
`estimateaggdparam.m`) step by step; docs/metrics.md records its agreement with the release:

1. The image as MATLAB reads it: clamped to [0, 1] and quantised to 8 bits (a saved PNG), then its luma,
   rounded back to 8 bits as MATLAB does for uint8 images. `luma="y"` (the default) is the Y of MATLAB's
   `rgb2ycbcr` (16 + 65.481 R + 128.553 G + 24.966 B, in [16, 235]): the published MATLAB figure for BasicSR's
   baboon.png, 5.7296, and the parity implementations (BasicSR, pyiqa's "y" setting) use it. `luma="gray"` is
   `rgb2gray` (0.298936 R + 0.587043 G + 0.114021 B), what the release's `computequality.m` applies when given
   an RGB array (5.7497 on baboon.png). docs/metrics.md has both figures.
2. Cropped to a whole number of 96×96 blocks (top-left kept), no overlap.
3. At two scales (the image, then MATLAB's bicubic antialiased `imresize(im, 0.5)`): MSCN coefficients with a
   7×7 Gaussian (σ = 7/6, replicated border), (I − μ)/(σ + 1), exact in flat regions (see `mscn`); per block
   (96², then 48²) 18 features: a GGD fit of the coefficients and AGGD fits of their products with the 4
   neighbours (circularly shifted in the block), by the release's grid search over the shape 0.2:0.001:10.
4. A Gaussian fitted to the 36 features of the blocks (NaN-aware: `nanmean`, `nancov` over complete rows) and
   the distance to the pristine model: sqrt((μp − μd)ᵀ pinv((Σp + Σd)/2) (μp − μd)).

The pristine model (`mu_prisparam`, `cov_prisparam`) is the release's `modelparameters.mat`, read from
`model=` / `$LLE_NIQE_MODEL` (the release's .mat or an .npz with `mu_pris_param`, `cov_pris_param`), else
from the copy that the `basicsr` package ships (`basicsr/metrics/niqe_pris_params.npz`), found without
importing basicsr.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lle.metrics.matlab_resize import imresize
from lle.metrics.model_files import locate

NIQE_BLOCK = 96
# MATLAB's rgb2gray: the first row of the inverse of the NTSC (YIQ) transform.
RGB2GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)
# MATLAB's rgb2ycbcr, Y row: offset 16 and weights on [0, 255] inputs (ITU-R BT.601, studio range).
YCBCR_Y_WEIGHTS, YCBCR_Y_OFFSET = (65.481 / 255, 128.553 / 255, 24.966 / 255), 16.0
LUMAS = ("y", "gray")
NIQE_MODEL_ENV = "LLE_NIQE_MODEL"
NIQE_PACKAGED = ("basicsr", "metrics/niqe_pris_params.npz")
NIQE_HOW_TO_GET = (
    "NIQE needs the pristine model of the MATLAB release. Either install the package that ships it "
    "(lle reads only its data file): pip install --no-deps basicsr-fixed==1.4.2 ; or download "
    "niqe_release.zip from the authors (live.ece.utexas.edu/research/quality) and point lle at its "
    f"modelparameters.mat: ${NIQE_MODEL_ENV}=/path/to/modelparameters.mat or metrics.niqe_model=/path/…"
)


@dataclass(frozen=True)
class NiqeModel:
    """The multivariate Gaussian of the pristine images' 36 features."""

    mu: np.ndarray  # (36,)
    cov: np.ndarray  # (36, 36)
    source: str


@functools.lru_cache(maxsize=4)
def _read_model(path: str) -> NiqeModel:
    expected = "the authors' modelparameters.mat or basicsr's niqe_pris_params.npz"
    try:
        if path.endswith(".mat"):
            from scipy.io import loadmat

            data = loadmat(path)
            names = ("mu_prisparam", "cov_prisparam")
        else:
            data = dict(np.load(path, allow_pickle=False))  # never unpickle what a path names
            names = ("mu_pris_param", "cov_pris_param")
    except Exception as err:  # whatever the reader says of a text, truncated or foreign file (re-raised)
        # numpy's message for a text file suggests unpickling it, which lle never does: say only what was read.
        detail = "not an array file" if "pickled" in str(err) else f"{type(err).__name__}: {err}"
        raise ValueError(f"{path}: not a NIQE pristine model ({expected}); {detail}") from err
    missing = [n for n in names if n not in data]
    if missing:
        raise ValueError(f"{path}: not a NIQE pristine model (no {', '.join(missing)}; it has {sorted(data)})")
    mu, cov = np.asarray(data[names[0]], np.float64).reshape(-1), np.asarray(data[names[1]], np.float64)
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"{path}: expected a 36-vector and a 36×36 matrix, got {mu.shape} and {cov.shape}")
    return NiqeModel(mu, cov, path)


def niqe_model(path: str | Path | None = None) -> NiqeModel:
    """The pristine model: `path`, else `$LLE_NIQE_MODEL`, else basicsr's packaged copy (see module docstring)."""
    return _read_model(str(locate("NIQE pristine model", path, NIQE_MODEL_ENV, NIQE_PACKAGED, NIQE_HOW_TO_GET)))


def matlab_luma(x: torch.Tensor, luma: str = "y") -> torch.Tensor:
    """B×3×H×W (or B×1×H×W) in [0, 1] → B×H×W float64 in [0, 255]: MATLAB's `rgb2ycbcr` Y (`luma="y"`) or
    `rgb2gray` (`"gray"`) of the 8-bit image, as uint8 (a one-channel image is taken as it is)."""
    if luma not in LUMAS:
        raise ValueError(f"NIQE's luma must be one of {', '.join(LUMAS)}, got {luma!r}")
    x8 = torch.floor(x.detach().double().clamp(0, 1) * 255 + 0.5)
    if x8.shape[1] == 1:
        return x8[:, 0]
    if x8.shape[1] != 3:
        raise ValueError(f"NIQE takes B×3×H×W or B×1×H×W images, got {tuple(x.shape)}")
    weights, offset = (YCBCR_Y_WEIGHTS, YCBCR_Y_OFFSET) if luma == "y" else (RGB2GRAY_WEIGHTS, 0.0)
    w = torch.tensor(weights, dtype=torch.float64, device=x.device).view(1, 3, 1, 1)
    return torch.floor((x8 * w).sum(1) + offset + 0.5)  # MATLAB rounds uint8 results half away from zero


def _gaussian_7x7(device) -> torch.Tensor:
    """fspecial('gaussian', 7, 7/6), normalised."""
    coords = torch.arange(7, dtype=torch.float64, device=device) - 3
    g = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return (g / g.sum()).view(1, 1, 7, 7)


def mscn(image: torch.Tensor) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients (I − μ)/(σ + 1) of N×H×W images in [0, 255], with the
    7×7 Gaussian window and a replicated border.

    I − μ is summed as Σ w·(I − I_k) and σ² as Σ w·(I_k − μ)², equal to the release's formulas in exact
    arithmetic, so that a flat region (black or saturated, common in low-light photographs) gives exactly 0, as
    in MATLAB: the direct μ = Σ w·I_k leaves rounding noise there whose signs would count as AGGD samples (up
    to 6 % on such images; docs/metrics.md)."""
    window = _gaussian_7x7(image.device).view(7, 7)
    h, w = image.shape[-2:]
    padded = F.pad(image[:, None], (3, 3, 3, 3), mode="replicate")[:, 0]
    shifted = [(window[i, j], padded[:, i : i + h, j : j + w]) for i in range(7) for j in range(7)]
    deviation = torch.zeros_like(image)
    for weight, neighbour in shifted:
        deviation += weight * (image - neighbour)
    mu = image - deviation
    variance = torch.zeros_like(image)
    for weight, neighbour in shifted:
        variance += weight * (neighbour - mu) ** 2
    return deviation / (variance.sqrt() + 1)


@functools.lru_cache(maxsize=2)
def _shape_grid(device_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    # The release's gam = 0.2:0.001:10 and r(gam) = Γ(2/γ)² / (Γ(1/γ) Γ(3/γ)).
    gam = 0.2 + 0.001 * torch.arange(9801, dtype=torch.float64)
    r = torch.exp(2 * torch.lgamma(2 / gam) - torch.lgamma(1 / gam) - torch.lgamma(3 / gam))
    return gam.to(device_type), r.to(device_type)


def _gamma_ratio(alpha: torch.Tensor, num: float, den: float) -> torch.Tensor:
    return torch.exp(torch.lgamma(num / alpha) - torch.lgamma(den / alpha))


def aggd_fit(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`estimateaggdparam` on each row of N×K values: (alpha, beta_left, beta_right), each of shape N.

    An empty side (no negative or no positive values) gives NaN, as MATLAB's mean of an empty vector does; the
    shape is then the grid's first value (MATLAB's `min` of all-NaN differences returns position 1)."""
    neg, pos = values < 0, values > 0
    left_std = ((values**2) * neg).sum(1).div(neg.sum(1)).sqrt()  # 0/0 → NaN where a side is empty
    right_std = ((values**2) * pos).sum(1).div(pos.sum(1)).sqrt()
    gamma_hat = left_std / right_std
    r_hat = values.abs().mean(1) ** 2 / (values**2).mean(1)
    r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    gam, r_gam = _shape_grid(values.device.type)
    difference = (r_gam[None, :] - r_hat_norm[:, None]) ** 2
    position = torch.nan_to_num(difference, nan=torch.inf).argmin(1)  # first minimum, as MATLAB's min
    alpha = gam[position]
    scale = _gamma_ratio(alpha, 1, 3).sqrt()
    return alpha, left_std * scale, right_std * scale


def block_features(coefficients: torch.Tensor) -> torch.Tensor:
    """`computefeature` of N×b×b blocks of MSCN coefficients → N×18."""
    n = coefficients.shape[0]
    flat = coefficients.reshape(n, -1)
    alpha, left, right = aggd_fit(flat)
    features = [alpha, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):  # MATLAB's circshift offsets (rows, columns)
        shifted = torch.roll(coefficients, shifts=shift, dims=(1, 2))
        alpha, left, right = aggd_fit(flat * shifted.reshape(n, -1))
        mean = (right - left) * _gamma_ratio(alpha, 2, 1)
        features += [alpha, mean, left, right]
    return torch.stack(features, 1)


def _blocks(image: torch.Tensor, size: int) -> torch.Tensor:
    """H×W → N×size×size, the non-overlapping blocks (H and W are multiples of size)."""
    h, w = image.shape
    return image.reshape(h // size, size, w // size, size).permute(0, 2, 1, 3).reshape(-1, size, size)


def niqe_features(gray: torch.Tensor, block: int = NIQE_BLOCK) -> torch.Tensor:
    """The 36 features of each block of one H×W image in [0, 255] (blocks × 36), as `computequality` builds them."""
    h, w = (gray.shape[0] // block) * block, (gray.shape[1] // block) * block
    if h == 0 or w == 0:
        raise ValueError(f"NIQE needs images of at least {block}x{block} pixels, got {tuple(gray.shape)}")
    image = gray[:h, :w]
    per_scale = []
    for scale in (1, 2):
        per_scale.append(block_features(_blocks(mscn(image[None])[0], block // scale)))
        if scale == 1:
            image = imresize(image, 0.5)
    return torch.cat(per_scale, 1)


def _nan_mean_cov(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # MATLAB's nanmean (per column) and nancov (rows with any NaN dropped; N − 1 normalisation).
    with warnings.catch_warnings():  # a column without any finite value: NaN, as MATLAB's nanmean
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(features, axis=0) if np.isfinite(features).any() else np.full(features.shape[1], np.nan)
    complete = features[np.isfinite(features).all(1)]
    if len(complete) > 1:
        cov = np.cov(complete, rowvar=False)
    else:  # one block (or none complete): no spread to estimate
        cov = np.zeros((features.shape[1], features.shape[1])) if len(complete) else np.full((36, 36), np.nan)
    return mu, cov


def niqe_score(features: np.ndarray, model: NiqeModel) -> float:
    mu, cov = _nan_mean_cov(features)
    if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
        return float("nan")  # e.g. a flat image: its coefficients are all zero and nothing can be fitted
    difference = model.mu - mu
    return float(np.sqrt(difference @ np.linalg.pinv((model.cov + cov) / 2) @ difference))


def niqe(x: torch.Tensor, model: NiqeModel | str | Path | None = None, luma: str = "y") -> torch.Tensor:
    """Per-image NIQE of B×3×H×W images in [0, 1] (shape B, float64; lower is better). `model`: the pristine
    model or its file (default: see `niqe_model`); `luma`: "y" (rgb2ycbcr) or "gray" (rgb2gray).

    Images need at least 96×96 pixels; a flat image (no contrast to fit) scores NaN, as in the release.
    """
    if x.ndim != 4:
        raise ValueError(f"NIQE takes B×3×H×W images, got {tuple(x.shape)}")
    if not isinstance(model, NiqeModel):
        model = niqe_model(model)
    gray = matlab_luma(x, luma)
    scores = [niqe_score(niqe_features(image).cpu().numpy(), model) for image in gray]
    return torch.tensor(scores, dtype=torch.float64)
