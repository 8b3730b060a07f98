"""Objects that tests inject through configs (`_target_: lle_test_helpers.…`); tests/ is on sys.path."""

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
