"""Objects that tests inject through configs (`_target_: lle_test_helpers.…`); tests/ is on sys.path."""

import os

import pytorch_lightning as pl
import torch
import torch.nn as nn


class NonFiniteAfter(nn.Module):
    """An L1 loss that turns into NaN from the `after`-th call on: a reproducible divergence."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = (pred - target).abs().mean()
        return loss * float("nan") if self.calls > self.after else loss


class SignalAtStep(pl.Callback):
    """Sends its own process a real signal once, after `step` training steps: as the next training step starts
    (`during="training"`, the middle of an epoch), or as the validation at that step starts (`during="validation"`,
    where Lightning alone would stop without saving). A resumed run starts after it, so it is not signalled again."""

    def __init__(self, step: int, signum: int, during: str = "training"):
        if during not in ("training", "validation"):
            raise ValueError(f"during={during!r}: expected 'training' or 'validation'")
        self.step, self.signum, self.during = step, signum, during
        self.sent = False

    def on_train_batch_start(self, trainer, *args) -> None:
        if self.during == "training":
            self._send(trainer)

    def on_validation_batch_start(self, trainer, *args) -> None:
        if self.during == "validation" and not trainer.sanity_checking:
            self._send(trainer)

    def _send(self, trainer) -> None:
        if trainer.global_step == self.step and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)
