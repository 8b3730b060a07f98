"""Test instrumentation the SLURM jobs load (`+callbacks.pause._target_=slurm_helpers.PauseForSignal`): the test
sends SLURM's own signal from outside (`scancel --signal=USR1`), and this makes it arrive during a known step."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytorch_lightning as pl

from lle.callbacks import PreemptionCheckpoint


class PauseForSignal(pl.Callback):
    """Once, after `step` training steps, write `marker` (this job's SLURM id) and wait, up to `timeout` seconds,
    until lle's pre-emption callback has received a signal; training then goes on and stops after the next step. The
    requeued run finds the marker and does not wait."""

    def __init__(self, step: int, marker: str, timeout: float = 240):
        self.step, self.marker, self.timeout = step, Path(marker), timeout

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step != self.step or self.marker.exists():
            return
        preemption = next(c for c in trainer.callbacks if isinstance(c, PreemptionCheckpoint))
        array = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
        job = f"{array[0]}_{array[1]}" if all(array) else os.environ["SLURM_JOB_ID"]
        self.marker.write_text(json.dumps({"job": job, "step": trainer.global_step}))
        deadline = time.monotonic() + self.timeout
        while preemption.received is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no signal within {self.timeout} s of {self.marker}")
            time.sleep(0.05)
