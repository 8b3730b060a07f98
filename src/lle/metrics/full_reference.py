"""Full-reference image-quality metrics (PSNR, SSIM) with lle's evaluation protocol (docs/specs/protocol.md).

Inputs are float tensors B×3×H×W. Every function returns one value per image (shape B) so that
per-image results can be reported; means are taken by the caller.

- PSNR on the full RGB image, output clamped to [0, 1]; by default both images are quantised to 8 bits
  first, as saved PNGs are (`quantize=False` gives the float variant some papers report).
- SSIM as the MATLAB reference of Wang et al. (2004): 11×11 Gaussian window, σ = 1.5, K1 = 0.01,
  K2 = 0.03, computed per channel on the valid region (no padding), averaged over channels, in float64.
  It matches scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)` (asserted in the tests); torchmetrics' default SSIM
  pads the border and therefore differs slightly.
- GT-mean variants rescale the output so that its grey mean equals the ground truth's. They use the
  ground truth at test time, so they are logged under separate keys and never replace the defaults.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lle.metrics import keys

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """What saving to an 8-bit PNG and reading it back does to an image in [0, 1]."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def _prepare(pred: torch.Tensor, target: torch.Tensor, quantize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    pred, target = pred.detach().double().clamp(0, 1), target.detach().double().clamp(0, 1)
    if quantize:
        pred, target = quantize_8bit(pred), quantize_8bit(target)
    return pred, target


def psnr(pred: torch.Tensor, target: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """Per-image PSNR in dB for images in [0, 1]."""
    pred, target = _prepare(pred, target, quantize)
    mse = (pred - target).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-20))


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    window: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """SSIM map (B×C×h×w, valid region) in the dtype of `x`; differentiable, so losses use it too."""
    c = x.shape[1]
    if min(x.shape[-2:]) < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window} pixels, got {tuple(x.shape[-2:])}")
    g = gaussian_window(window, sigma, dtype=x.dtype, device=x.device)
    # Separable Gaussian filtering: a row pass then a column pass, per channel.
    kh, kw = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kh, groups=c), kw, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    sigma_x = blur(x * x) - mu_x**2
    sigma_y = blur(y * y) - mu_y**2
    sigma_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2))


def ssim(pred: torch.Tensor, target: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """Per-image MATLAB-style SSIM (mean over channels and the valid region)."""
    pred, target = _prepare(pred, target, quantize)
    return ssim_map(pred, target).flatten(1).mean(1)


def gt_mean_rescale(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Scale each output so its grey mean equals the ground truth's, then clip (the 'GT-mean' protocol)."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=pred.dtype, device=pred.device).view(1, 3, 1, 1)
    pred_mean = (pred.clamp(0, 1) * w).sum(1).flatten(1).mean(1)
    target_mean = (target * w).sum(1).flatten(1).mean(1)
    scale = target_mean / pred_mean.clamp_min(1e-8)
    return (pred * scale.view(-1, 1, 1, 1)).clamp(0, 1)


def image_metrics(
    pred: torch.Tensor, target: torch.Tensor, gt_mean: bool = False, quantize: bool = True
) -> dict[str, torch.Tensor]:
    """All per-image metrics of the protocol, keyed by their logged names (without the stage prefix)."""
    out = {keys.PSNR: psnr(pred, target, quantize), keys.SSIM: ssim(pred, target, quantize)}
    if gt_mean:
        rescaled = gt_mean_rescale(pred, target)
        out[keys.PSNR_GTMEAN] = psnr(rescaled, target, quantize)
        out[keys.SSIM_GTMEAN] = ssim(rescaled, target, quantize)
    return out
