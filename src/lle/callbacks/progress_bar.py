"""The terminal's progress bar: Lightning's rich bar, counting epochs as people do."""

from __future__ import annotations

from pytorch_lightning.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """Lightning's `RichProgressBar` with epochs counted from 1: Lightning's own says "Epoch 1/1" during the last of
    two epochs (a zero-based index over the last index); this one says "Epoch 2/2", as `ProgressLog` and the
    run's log lines do."""

    def _get_train_description(self, current_epoch: int) -> str:
        # Lightning's method, one-based; kept to its padding so that the bar does not flicker beside "Validation".
        description = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            description += f"/{self.trainer.max_epochs}"
        if len(self.validation_description) > len(description):
            description = f"{description:{len(self.validation_description)}}"
        return description
