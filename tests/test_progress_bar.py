"""The terminal's progress bar counts epochs from 1, as the run's log lines do."""

import io

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lle.callbacks import ProgressBar


class TinyRegression(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_the_bar_says_epoch_2_of_2_in_the_last_of_two_epochs(tmp_path):
    screen = io.StringIO()
    bar = ProgressBar(console_kwargs={"file": screen, "force_terminal": True, "width": 120})
    data = DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=4)
    trainer = pl.Trainer(
        max_epochs=2, callbacks=[bar], logger=False, enable_checkpointing=False, default_root_dir=tmp_path
    )
    trainer.fit(TinyRegression(), data)
    shown = screen.getvalue()
    assert "Epoch 1/2" in shown and "Epoch 2/2" in shown
    assert "Epoch 1/1" not in shown and "Epoch 0/" not in shown  # Lightning's own bar counts from 0 to max − 1
