"""Pieces shared by the `lle-train` and `lle-eval` tasks: building objects from configs, run bookkeeping."""

from __future__ import annotations

import logging
import sys
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
            if pl.utilities.rank_zero_only.rank == 0:
                output_dir.mkdir(parents=True, exist_ok=True)
                write_json(output_dir / "metrics.json", {
                    "status": "failed", "error": f"{type(err).__name__}: {err}",
                    "traceback": traceback.format_exc(), **choices_or_empty(),
                })
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                log.error("job failed (%s: %s); details in %s/metrics.json", type(err).__name__, err, output_dir)
                return {"status": "failed"}
            raise
        finally:
            import wandb

            if wandb.run is not None:  # close the run so that the next job of a sweep starts a fresh one
                wandb.finish(exit_code=1 if failed else 0)  # a failed job shows as failed on the dashboard

    return wrapper


def choices_or_empty() -> dict[str, str]:
    try:
        return {f"choice/{k}": v for k, v in choices().items() if v is not None}
    except ValueError:
        return {}
