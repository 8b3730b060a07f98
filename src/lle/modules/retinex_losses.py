"""Moved to `lle.losses.retinex` (0.2.0); this alias keeps old imports working."""

from lle.losses.retinex import (
    TF_GRAY_WEIGHTS,
    average_gradient,
    decom_loss,
    gradient,
    invariable_reflectance_loss,
    reconstruction_loss,
    relight_loss,
    rgb_to_gray,
    smoothness_loss,
)

__all__ = [
    "TF_GRAY_WEIGHTS",
    "average_gradient",
    "decom_loss",
    "gradient",
    "invariable_reflectance_loss",
    "reconstruction_loss",
    "relight_loss",
    "rgb_to_gray",
    "smoothness_loss",
]
