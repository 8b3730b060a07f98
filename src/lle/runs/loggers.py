"""Logger variants that keep a resumed run's history, and the W&B run bookkeeping of lle-train."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict
from pytorch_lightning.loggers import CSVLogger as LightningCSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Lightning deletes an existing metrics.csv here; a resumed run appends to it instead, starting
        # from the columns already in the file. Steps logged after the last checkpoint of an
        # interrupted run appear twice (with the same `step` value).
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = sorted(next(csv.reader(file), []))


class CSVLogger(LightningCSVLogger):
    """Lightning's CSVLogger, except that resuming into the same directory appends to `metrics.csv`."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


# Logger class → (packages that serve it, lle's extra that installs the first); they are not core dependencies.
LOGGER_PACKAGES = {
    "WandbLogger": (("wandb",), "wandb"),
    "TensorBoardLogger": (("tensorboard", "tensorboardX"), "tensorboard"),
}


def _is_wandb(node) -> bool:
    return bool(node) and str(node.get("_target_", "")).endswith("WandbLogger")


def check_logger_packages(cfg: DictConfig) -> None:
    """Name the extra to install when a configured logger's package is missing, before any work starts."""
    import importlib.util

    for name, node in (cfg.get("logger") or {}).items():
        target = str((node or {}).get("_target_", "")).rsplit(".", 1)[-1]
        packages, extra = LOGGER_PACKAGES.get(target, ((), None))
        if packages and not any(importlib.util.find_spec(p) for p in packages):
            raise ImportError(f'logger {name} ({target}) needs the {packages[0]} package: pip install "lle[{extra}]"')


def finish_wandb_run(failed: bool) -> None:
    """Close the W&B run of this process, if wandb is installed and a run is open, so that the next job of a
    sweep starts a fresh one; a failed job shows as failed on the dashboard."""
    import sys

    wandb = sys.modules.get("wandb")  # imported only if a WandbLogger was used
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=1 if failed else 0)


def continue_logger_runs(cfg: DictConfig) -> None:
    """When resuming, log into the interrupted run's W&B run instead of starting a new one."""
    if not cfg.get("ckpt_path") or not cfg.get("logger"):
        return
    from lle.runs.checkpoint import read_metadata

    run_id = read_metadata(cfg.ckpt_path).wandb_run_id
    for node in cfg.logger.values():
        if _is_wandb(node) and run_id:
            with open_dict(node):
                node.id, node.resume = run_id, "allow"


def describe_wandb_runs(cfg: DictConfig, picked: dict[str, str]) -> None:
    """A sweep's W&B runs share a group named after the sweep directory (the full path would differ between
    machines); every run is tagged with its model and data so the dashboard can filter on them."""
    hydra_cfg = HydraConfig.get()
    for node in (cfg.get("logger") or {}).values():
        if _is_wandb(node):
            with open_dict(node):
                if hydra_cfg.mode == RunMode.MULTIRUN and not node.get("group"):
                    node.group = Path(hydra_cfg.sweep.dir).name
                extra = [picked[k] for k in ("model", "data") if picked.get(k)]
                node.tags = list(dict.fromkeys([*(node.get("tags") or []), *extra]))


def summarize_wandb_runs(loggers: list, result: dict[str, Any]) -> None:
    """The final metrics as the W&B run's summary and a one-row table, comparable across a sweep's runs."""
    row = {k: v for k, v in result.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    for logger in loggers:
        if isinstance(logger, pl.loggers.WandbLogger):
            logger.experiment.summary.update(row)
            logger.log_table(key="final_metrics", columns=list(row), data=[list(row.values())])


def remember_logger_runs(module, loggers: list) -> None:
    """Store the W&B run id in the checkpoints, so that a resumed run continues the same W&B run. The run is
    started here (`experiment`): before that, a new run has no id yet (`version` is None)."""
    for logger in loggers:
        if isinstance(logger, pl.loggers.WandbLogger):
            module.checkpoint_metadata.wandb_run_id = logger.experiment.id
