"""Image-quality metrics, their logged names (`keys`) and the protocol they follow (`protocol`).

Every function takes float tensors B×3×H×W and returns one value per image (shape B): the full-reference PSNR
and SSIM, the no-reference NIQE (`niqe`), and LPIPS (`lle.metrics.lpips.LPIPS`, a module: it holds weights).
"""

from lle.metrics.full_reference import (
    LUMA_WEIGHTS,
    gaussian_window,
    gt_mean_rescale,
    image_metrics,
    psnr,
    quantize_8bit,
    ssim,
    ssim_map,
)
from lle.metrics.no_reference import niqe, niqe_model
from lle.metrics.protocol import PROTOCOL

__all__ = [
    "LUMA_WEIGHTS",
    "PROTOCOL",
    "gaussian_window",
    "gt_mean_rescale",
    "image_metrics",
    "niqe",
    "niqe_model",
    "psnr",
    "quantize_8bit",
    "ssim",
    "ssim_map",
]
