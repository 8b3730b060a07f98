"""LightningModules: the training procedures. Networks are injected by the configs."""

from lle.modules.enhancement import EnhancementModule

__all__ = ["EnhancementModule"]
