"""Pixel losses, selected with the `loss=` config group. Each is `loss(pred, target) -> scalar`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from lle.metrics import ssim_map


class L1Loss(nn.L1Loss):
    """Mean absolute error."""


class CharbonnierLoss(nn.Module):
    """sqrt((pred − target)² + ε²), averaged. MIRNet's official loss uses ε = 1e-3 on the clamped output."""

    def __init__(self, eps: float = 1e-3, clamp_prediction: bool = True):
        super().__init__()
        self.eps, self.clamp_prediction = eps, clamp_prediction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.clamp_prediction:
            pred = pred.clamp(0, 1)
        return torch.sqrt((pred - target) ** 2 + self.eps**2).mean()


class RGBWeightedL1(nn.Module):
    """Per-channel weighted L1 (GLADNet): mean over all elements of |pred − target| · w_c.

    GLADNet's official code applies the weights (0.11448, 0.58661, 0.29891) — luma weights written in
    BGR order — to RGB images, so R gets 0.11448; that is the default. (0.29891, 0.58661, 0.11448) is
    the luma order that was probably intended.
    """

    def __init__(self, channel_weights: Sequence[float] = (0.11448, 0.58661, 0.29891)):
        super().__init__()
        self.register_buffer(
            "channel_weights",
            torch.tensor(list(channel_weights), dtype=torch.float32).view(1, -1, 1, 1),
            persistent=False,
        )

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((pred - target).abs() * self.channel_weights).mean()


class L1SSIMLoss(nn.Module):
    """l1_weight · L1 + ssim_weight · (1 − SSIM), SSIM with an 11×11 σ=1.5 Gaussian on the valid region."""

    min_size = 11  # the SSIM window: smaller training targets cannot be scored (checked before a run starts)

    def __init__(self, l1_weight: float = 0.85, ssim_weight: float = 0.15):
        super().__init__()
        self.l1_weight, self.ssim_weight = l1_weight, ssim_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        l1 = (pred - target).abs().mean()
        return self.l1_weight * l1 + self.ssim_weight * (1 - ssim_map(pred, target).mean())


class L1MSSSIMLoss(nn.Module):
    """l1_weight · L1 + msssim_weight · (1 − MS-SSIM) (ALEN: 0.85 / 0.15).

    MS-SSIM over 5 scales with an 11×11 σ=1.5 Gaussian and the standard weights (Wang et al. 2003),
    from torchmetrics; images need a side of at least 11·2⁴ = 176 pixels at 5 scales, so smaller
    training patches use fewer scales (the first `len(betas)` weights, renormalised by torchmetrics).
    """

    BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

    min_size = 11  # one scale's window; larger targets use more scales (see above)

    def __init__(self, l1_weight: float = 0.85, msssim_weight: float = 0.15):
        super().__init__()
        self.l1_weight, self.msssim_weight = l1_weight, msssim_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

        scales = 5
        while scales > 1 and min(pred.shape[-2:]) < 11 * 2 ** (scales - 1):
            scales -= 1
        msssim = ms_ssim(
            pred.clamp(0, 1),
            target,
            data_range=1.0,
            kernel_size=11,
            sigma=1.5,
            betas=self.BETAS[:scales],
            normalize="relu",
        )
        return self.l1_weight * (pred - target).abs().mean() + self.msssim_weight * (1 - msssim)
