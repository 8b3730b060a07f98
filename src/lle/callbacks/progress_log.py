"""Progress as plain log lines where no progress bar can be seen.

Lightning's rich progress bar draws on a terminal only: a run whose output goes to a file (`lle-train > log`,
nohup, a batch job, a sweep's jobs) was silent between the model summary and the end, for as long as the run
took. This callback logs one line every `every_n_seconds` instead, to the console and the run's `train.log`:

    [lle][INFO] - step 120/1000 (epoch 1/2): loss 0.0412, 3.10 steps/s, 4m44s left

On a terminal it stays quiet (the bar shows the same), unless `when: always`.
"""

from __future__ import annotations

import logging
import math
import sys
import time

import pytorch_lightning as pl
import torch

log = logging.getLogger("lle")

WHEN = ("no_terminal", "always", "never")


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class ProgressLog(pl.Callback):
    """A log line every `every_n_seconds` of training (step, epoch, loss, steps per second, time left), when the
    console is not a terminal (`when="no_terminal"`), always, or never; rank 0 only."""

    def __init__(self, every_n_seconds: float = 30.0, when: str = "no_terminal"):
        if when not in WHEN:
            raise ValueError(f"callbacks.progress_log.when must be one of {', '.join(WHEN)}, got {when!r}")
        if not every_n_seconds >= 0:
            raise ValueError(f"callbacks.progress_log.every_n_seconds must be ≥ 0, got {every_n_seconds}")
        self.every_n_seconds, self.when = float(every_n_seconds), when
        self.active = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        terminal = sys.stdout.isatty()
        self.active = trainer.is_global_zero and (
            self.when == "always" or (self.when == "no_terminal" and not terminal)
        )
        self.started = self.last = time.monotonic()
        self.first_step, self.total = trainer.global_step, trainer.estimated_stepping_batches

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        if not self.active:
            return
        now, total, step = time.monotonic(), self.total, trainer.global_step
        if now - self.last < self.every_n_seconds and step < total:
            return
        self.last = now
        rate = (step - self.first_step) / max(now - self.started, 1e-9)
        left = (total - step) / rate if rate > 0 and math.isfinite(total) else math.inf
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        loss_text = f"loss {float(loss):.4g}, " if isinstance(loss, torch.Tensor) else ""
        total_text = str(int(total)) if math.isfinite(total) else "?"
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        log.info(
            "step %d/%s (epoch %d/%s): %s%.2f steps/s, %s left",
            step,
            total_text,
            trainer.current_epoch + 1,
            epochs,
            loss_text,
            rate,
            _duration(left),
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.active:
            steps = trainer.global_step - self.first_step
            log.info("training ended: %d steps in %s", steps, _duration(time.monotonic() - self.started))
