"""Methods that train nothing (the input itself, the classical methods), scored together on one test split."""

from __future__ import annotations

import pytorch_lightning as pl
import torch.nn as nn

from lle.metrics import keys
from lle.modules.enhancement import EnhancementModule


class BaselinesModule(pl.LightningModule):
    """Tests several parameter-free methods in one pass over the test split: each batch is read once and every
    method scored by its own `EnhancementModule` (the code and protocol that score the run's model). Logs
    `baseline/<method>/test/<metric>` (`lle.metrics.keys.baseline_key`); the metrics are averaged over every
    rank's share of the split, as the model's are.

    Args:
        methods: {name: network}, e.g. {"input": nn.Identity(), "gamma": Gamma()}.
        gt_mean_metrics: also the GT-mean variants, as the run's model logs them.
    """

    def __init__(self, methods: dict[str, nn.Module], gt_mean_metrics: bool = True):
        super().__init__()
        self.scorers = nn.ModuleDict(
            {name: EnhancementModule(net, gt_mean_metrics=gt_mean_metrics) for name, net in methods.items()}
        )

    def test_step(self, batch: dict, batch_idx: int) -> None:
        for scorer in self.scorers.values():
            scorer._evaluate(batch, scorer.test_metrics)

    def on_test_epoch_end(self) -> None:
        for method, scorer in self.scorers.items():
            for name, metric in scorer.test_metrics.items():
                self.log(keys.baseline_key(method, keys.key(keys.TEST, name)), metric.compute())
                metric.reset()
