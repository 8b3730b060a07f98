"""Pieces shared by the `lle-train` and `lle-eval` tasks: building objects from configs, run bookkeeping."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lle.run_outputs import PROTOCOL, environment, write_json, write_text_atomic

log = logging.getLogger("lle")


class RunDirectoryTaken(FileExistsError):
    """The output directory holds another run's results: this run must not write anything there."""


class RunDirectoryUnwritable(PermissionError):
    """The output directory cannot be created or written: found before any work starts."""


def check_output_dir(output_dir: Path, resume_from: str | None = None) -> None:
    """Never write over another run's results, and fail before any work when the directory is unusable.

    A run may continue in a directory that holds results only when it resumes from a checkpoint inside
    that directory (`ckpt_path=<run>/checkpoints/last.ckpt hydra.run.dir=<run>`).
    """
    finished = [p.name for p in (output_dir / "metrics.json", output_dir / "checkpoints" / "last.ckpt") if p.exists()]
    if finished and not _resumes_inside(output_dir, resume_from):
        raise RunDirectoryTaken(
            f"{output_dir} already holds a run ({', '.join(finished)}); choose another hydra.run.dir, or resume "
            f"that run with ckpt_path={output_dir / 'checkpoints' / 'last.ckpt'} hydra.run.dir={output_dir}")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        # One probe per process: the tasks of a SLURM DDP job start together on a shared file system.
        probe = output_dir / f".lle-write-test-{socket.gethostname()}-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunDirectoryUnwritable(f"output directory {output_dir} is not writable: {err}") from err


def _resumes_inside(output_dir: Path, resume_from: str | None) -> bool:
    if not resume_from:
        return False
    if resume_from in ("last", "hpc"):  # Lightning's names for a checkpoint of this run
        return True
    return Path(resume_from).expanduser().resolve().is_relative_to(output_dir.resolve())


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a group such as `callbacks:` or `logger:`."""
    if not cfg:
        return []
    return [instantiate(node) for node in cfg.values() if isinstance(node, DictConfig) and "_target_" in node]


def choices() -> dict[str, str]:
    """The config-group choices of this run (model, data, loss, …)."""
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if not k.startswith("hydra")}


def record_run(cfg: DictConfig, output_dir: Path) -> None:
    """Resolved config, command line and environment, next to the run's results."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_text_atomic(output_dir / "command.txt", " ".join(sys.argv) + "\n")
    write_json(output_dir / "environment.json", environment())


def run_metadata(cfg: DictConfig) -> dict[str, Any]:
    """What a checkpoint carries so that it can be evaluated and loaded with nothing else."""
    picked = choices()
    return {
        "model_name": picked.get("model"),
        "model_config": OmegaConf.to_container(cfg.model, resolve=True),
        "data_name": picked.get("data"),
        "data_config": OmegaConf.to_container(cfg.data, resolve=True),
        "loss_name": picked.get("loss"),
        "protocol": PROTOCOL,
    }


def log_hyperparameters(loggers: list, cfg: DictConfig, extra: dict[str, Any]) -> None:
    config = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams({**config, **extra})


def guarded(task: Callable[[DictConfig], dict[str, Any]]) -> Callable[[DictConfig], dict[str, Any]]:
    """Record a failure in the run's metrics.json. In a multirun the error is logged and the sweep goes
    on with the next job (its directory says what went wrong); a single run re-raises."""

    def wrapper(cfg: DictConfig) -> dict[str, Any]:
        output_dir = Path(cfg.paths.output_dir)
        failed = False
        try:
            return task(cfg)
        except Exception as err:
            failed = True
            if pl.utilities.rank_zero_only.rank == 0 and not isinstance(err, (RunDirectoryTaken, RunDirectoryUnwritable)):
                record_failure(output_dir, err)
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                log.error("job failed (%s: %s); details in %s/metrics.json", type(err).__name__, err, output_dir)
                return {"status": "failed"}
            raise
        finally:
            import wandb

            if wandb.run is not None:  # close the run so that the next job of a sweep starts a fresh one
                wandb.finish(exit_code=1 if failed else 0)  # a failed job shows as failed on the dashboard

    return wrapper


def record_failure(output_dir: Path, err: Exception) -> None:
    """metrics.json says the run failed; a finished run's results (a resumed run that failed) are kept and
    the failure goes next to them instead."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"status": "failed", "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(),
              **choices_or_empty()}
    target = output_dir / "metrics.json"
    if target.exists() and _status(target) == "ok":
        target = output_dir / f"failure-{time.strftime('%Y%m%d-%H%M%S')}.json"
        log.error("the run's earlier results stay in metrics.json; this failure is in %s", target)
    write_json(target, record)


def _status(metrics_file: Path) -> str | None:
    try:
        return json.loads(metrics_file.read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def choices_or_empty() -> dict[str, str]:
    try:
        return {f"choice/{k}": v for k, v in choices().items() if v is not None}
    except ValueError:
        return {}
