"""Image-quality metrics, their logged names (`keys`) and the protocol they follow (`protocol`).

Every function takes float tensors B×3×H×W and returns one value per image (shape B): the full-reference PSNR
and SSIM, the no-reference NIQE (`niqe`), and LPIPS (`lle.metrics.lpips.LPIPS`, a module: it holds weights).
The functions are imported on first use, so that `lle.metrics.keys` and `lle.metrics.protocol` (read by every
command, `--help` included) do not import torch.
"""

from lle.metrics.protocol import PROTOCOL

_FULL_REFERENCE = (
    "LUMA_WEIGHTS",
    "gaussian_window",
    "gt_mean_rescale",
    "image_metrics",
    "psnr",
    "quantize_8bit",
    "ssim",
    "ssim_map",
)
_NO_REFERENCE = ("niqe", "niqe_model")
__all__ = ["PROTOCOL", *_FULL_REFERENCE, *_NO_REFERENCE]


def __getattr__(name: str):
    if name in _FULL_REFERENCE:
        from lle.metrics import full_reference

        return getattr(full_reference, name)
    if name in _NO_REFERENCE:
        from lle.metrics import no_reference

        return getattr(no_reference, name)
    raise AttributeError(f"module 'lle.metrics' has no attribute {name!r}")
