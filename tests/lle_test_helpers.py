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
    """Sends its own process a real signal once, as training step `step` + 1 starts: a pre-emption during a known
    step in the middle of an epoch (a resumed run starts after it, so it is not signalled again)."""

    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)
