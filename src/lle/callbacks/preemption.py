"""Pre-emption: a job told to stop (SIGTERM, or SIGUSR1 as SLURM sends it before a time limit) finishes the training
step it is in, saves `last.ckpt` there and stops; restarted in the same run directory (`ckpt_path=auto`, or
automatically in a requeued SLURM job: `lle.runs.guard.resume_option`) it continues from that step as if it had
never stopped.

Lightning alone stops on SIGTERM wherever its loops next look (after a step, inside validation, at the epoch's
end) and saves nothing there, so the epoch's steps since the last checkpoint are lost; its SLURM handler for
SIGUSR1 saves a checkpoint from inside the signal handler, wherever the step is, and keeps training. So while
the training loop runs, this callback holds both signals itself: every stop comes after a training step, with
its checkpoint. A signal during the last validation (training is over) stops the job before testing, with the
final checkpoint. The mid-epoch checkpoint resumes exactly because the training loader is
resumable (`lle.data.base.ResumableLoader`) and data order and augmentation are pure functions of (seed, epoch,
index).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

log = logging.getLogger("lle")


class Preempted(SIGTERMException):
    """Training stopped on a signal after saving a resumable checkpoint; `signum` says which signal."""

    def __init__(self, signum: int, checkpoint: Path):
        super().__init__()
        self.signum, self.checkpoint = signum, checkpoint


class PreemptionCheckpoint(pl.Callback):
    """Stop after the current training step on SIGTERM or SIGUSR1, with `last.ckpt` saved at that step. In DDP the
    ranks decide together (one all-reduce of a flag per step), so that they save and stop at the same step.
    Under SLURM (SLURM_JOB_ID set), SIGUSR1 also requeues the job (`scontrol requeue`, from global rank 0)."""

    def __init__(self, requeue_on_sigusr1: bool = True):
        self.requeue_on_sigusr1 = requeue_on_sigusr1
        self.received: int | None = None
        self._previous = None
        self._lightning_sigterm = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Before the Trainer installs its handlers: Lightning leaves SIGUSR1 to a handler that is already there.
        if stage == "fit" and hasattr(signal, "SIGUSR1") and _main_thread():
            self.received = None
            self._previous = signal.signal(signal.SIGUSR1, self._on_signal)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self._previous is not None:
            signal.signal(signal.SIGUSR1, self._previous)
            self._previous = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the Trainer has installed its SIGTERM handler (which its loops act on wherever they are): take
        # SIGTERM over until training ends. A SIGTERM before now (the sanity check) is still seen below through
        # trainer.received_sigterm.
        if _main_thread():
            self._lightning_sigterm = signal.signal(signal.SIGTERM, self._on_signal)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._stop_if_signalled(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._give_sigterm_back()
        self._stop_if_signalled(trainer)  # signalled during the last validation: stop before testing

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._give_sigterm_back()

    def _give_sigterm_back(self) -> None:
        # To Lightning's handler, which the Trainer's teardown replaces by the one from before the run.
        if self._lightning_sigterm is not None:
            signal.signal(signal.SIGTERM, self._lightning_sigterm)
            self._lightning_sigterm = None

    def _on_signal(self, signum: int, frame) -> None:
        self.received = signum  # acted on at the end of the step: a handler must not save mid-step

    def _stop_if_signalled(self, trainer: pl.Trainer) -> None:
        signum = self.received or (signal.SIGTERM if trainer.received_sigterm else None)
        if not trainer.strategy.reduce_boolean_decision(signum is not None, all=False):
            return
        signum = signum or signal.SIGTERM  # another rank got it
        last = Path(trainer.checkpoint_callback.dirpath if trainer.checkpoint_callback else trainer.default_root_dir)
        last = last / "last.ckpt"
        trainer.save_checkpoint(last)  # every rank takes part; rank 0 writes
        if trainer.is_global_zero:
            log.warning(
                "%s received: stopped after global step %d, saved %s",
                signal.Signals(signum).name,
                trainer.global_step,
                last,
            )
            if signum == getattr(signal, "SIGUSR1", None) and self.requeue_on_sigusr1:
                requeue_slurm_job()
        raise Preempted(signum, last)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # signal.signal works only there


def requeue_slurm_job() -> None:
    """Put this SLURM job back in the queue; it restarts with the same command line (SLURM_RESTART_COUNT ≥ 1)."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return
    if os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.error("could not requeue SLURM job %s: %s", job, err)
        return
    if done.returncode:
        log.error("could not requeue SLURM job %s: %s", job, (done.stderr or done.stdout).strip())
    else:
        log.warning("requeued SLURM job %s: it continues from the checkpoint when it restarts", job)
