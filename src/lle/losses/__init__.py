"""Training losses. Pixel losses `loss(pred, target) -> scalar` (`pixel`) are chosen with the `loss=` config
group; Retinex-Net's decomposition and relighting losses (`retinex`) are called by its own module."""

from lle.losses.pixel import CharbonnierLoss, L1Loss, L1MSSSIMLoss, L1SSIMLoss, RGBWeightedL1

__all__ = ["CharbonnierLoss", "L1Loss", "L1MSSSIMLoss", "L1SSIMLoss", "RGBWeightedL1"]
