"""The Retinex-Net training losses, transcribed from the official code (`weichen582/RetinexNet` @ fdc15eb).

Defaults are the official weights (docs/specs/retinexnet.md §3.3). Every term is a mean over all
elements, as `tf.reduce_mean`. Each total comes with its terms, for logging:

    total, terms = decom_loss(low, high, r_low, i_low, r_high, i_high)     # stage 1 (DecomNet)
    total, terms = relight_loss(high, r_low, i_relit)                     # stage 2 (RelightNet)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# `tf.image.rgb_to_grayscale` weights (they sum to 0.9999, not 1).
TF_GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """B×3×H×W → B×1×H×W with the TF weights."""
    weights = rgb.new_tensor(TF_GRAY_WEIGHTS).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def gradient(x: torch.Tensor, direction: str) -> torch.Tensor:
    """|∇x| as the official `gradient`: TF SAME cross-correlation with [[0, 0], [-1, 1]] (x) or its transpose (y).

    SAME pads a 2×2 kernel with one zero row/column at the bottom/right only, and the kernel's zero first row
    (column) shifts the difference one pixel down (right):
        ∇ₓ[i, j] = x[i+1, j+1] − x[i+1, j],   ∇ᵧ[i, j] = x[i+1, j+1] − x[i, j+1],   with x = 0 outside.
    So the last column of |∇ₓ| is |x[i+1, W−1]| (the −x of the padded zero), its last row is 0, and
    likewise for ∇ᵧ with rows and columns swapped. Works per channel.
    """
    p = F.pad(x, (0, 1, 0, 1))
    if direction == "x":
        return (p[..., 1:, 1:] - p[..., 1:, :-1]).abs()
    if direction == "y":
        return (p[..., 1:, 1:] - p[..., :-1, 1:]).abs()
    raise ValueError(f"direction must be 'x' or 'y', got {direction!r}")


def average_gradient(x: torch.Tensor, direction: str) -> torch.Tensor:
    """3×3 stride-1 SAME average of |∇x|; TF's SAME pooling leaves the padding out of the mean."""
    return F.avg_pool2d(gradient(x, direction), 3, stride=1, padding=1, count_include_pad=False)


def smoothness_loss(
    illumination: torch.Tensor, reflectance: torch.Tensor, structure_awareness: float = 10.0
) -> torch.Tensor:
    """Structure-aware smoothness: mean(|∇I| · exp(−λ_g · avgpool₃(|∇ gray(R)|))) over x and y, λ_g = 10.

    No stop-gradient on R (the official graph has none), so it also shapes the reflectance in stage 1.
    """
    gray = rgb_to_gray(reflectance)
    return (
        gradient(illumination, "x") * torch.exp(-structure_awareness * average_gradient(gray, "x"))
        + gradient(illumination, "y") * torch.exp(-structure_awareness * average_gradient(gray, "y"))
    ).mean()


def reconstruction_loss(reflectance: torch.Tensor, illumination: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """mean |R ∘ I − S|, with the 1-channel I broadcast over R's channels (the official concat of 3 copies)."""
    return (reflectance * illumination - image).abs().mean()


def invariable_reflectance_loss(reflectance_low: torch.Tensor, reflectance_high: torch.Tensor) -> torch.Tensor:
    """mean |R_low − R_high|; both sides get gradients (the official code has no stop-gradient)."""
    return (reflectance_low - reflectance_high).abs().mean()


def decom_loss(
    low: torch.Tensor,
    high: torch.Tensor,
    reflectance_low: torch.Tensor,
    illumination_low: torch.Tensor,
    reflectance_high: torch.Tensor,
    illumination_high: torch.Tensor,
    mutual_weight: float = 0.001,
    reflectance_weight: float = 0.01,
    smooth_weight: float = 0.1,
    structure_awareness: float = 10.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Stage-1 loss of DecomNet (official `loss_Decom`) and its seven terms (unweighted)."""
    terms = {
        "recon_low": reconstruction_loss(reflectance_low, illumination_low, low),
        "recon_high": reconstruction_loss(reflectance_high, illumination_high, high),
        # Mutual reconstruction: each image rebuilt from the other image's reflectance.
        "mutual_recon_low": reconstruction_loss(reflectance_high, illumination_low, low),
        "mutual_recon_high": reconstruction_loss(reflectance_low, illumination_high, high),
        "invariable_reflectance": invariable_reflectance_loss(reflectance_low, reflectance_high),
        "smooth_low": smoothness_loss(illumination_low, reflectance_low, structure_awareness),
        "smooth_high": smoothness_loss(illumination_high, reflectance_high, structure_awareness),
    }
    total = (
        terms["recon_low"]
        + terms["recon_high"]
        + mutual_weight * (terms["mutual_recon_low"] + terms["mutual_recon_high"])
        + smooth_weight * (terms["smooth_low"] + terms["smooth_high"])
        + reflectance_weight * terms["invariable_reflectance"]
    )
    return total, terms


def relight_loss(
    high: torch.Tensor,
    reflectance_low: torch.Tensor,
    relit_illumination: torch.Tensor,
    smooth_weight: float = 3.0,
    structure_awareness: float = 10.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Stage-2 loss of RelightNet (official `loss_Relight`): |R_low ∘ Î − S_high|₁ + 3 · L_is(Î, R_low).

    Only these two terms: DecomNet(high) plays no part, so stage 2 need not run it.
    """
    terms = {
        "relight_recon": reconstruction_loss(reflectance_low, relit_illumination, high),
        "relight_smooth": smoothness_loss(relit_illumination, reflectance_low, structure_awareness),
    }
    return terms["relight_recon"] + smooth_weight * terms["relight_smooth"], terms
