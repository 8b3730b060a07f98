"""LightningModules: the training procedures. Networks are injected by the configs."""

from lle.modules.enhancement import EnhancementModule
from lle.modules.retinexnet import RetinexNetModule

__all__ = ["EnhancementModule", "RetinexNetModule"]
