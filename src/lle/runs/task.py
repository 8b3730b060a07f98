"""The wrapper every task (`lle-train`, `lle-eval`) runs in, and the Hydra helpers they share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lle.runs.guard import RunDirectoryTaken, RunDirectoryUnwritable, release_output_dir
from lle.runs.loggers import finish_wandb_run
from lle.runs.results import FAILED, INTERRUPTED, record_failure

log = logging.getLogger("lle")

# What a process killed by SIGTERM reports by convention (128 + 15): schedulers and shells read it as such.
INTERRUPTED_EXIT_CODE = 143


def choices() -> dict[str, str]:
    """The config-group choices of this run (model, data, loss, …)."""
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if not k.startswith("hydra")}


def choices_or_empty() -> dict[str, str]:
    """`choices()`, or nothing outside a Hydra run (a task called from Python)."""
    try:
        return choices()
    except ValueError:
        return {}


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a group such as `callbacks:` or `logger:`."""
    if not cfg:
        return []
    return [instantiate(node) for node in cfg.values() if isinstance(node, DictConfig) and "_target_" in node]


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
        except SIGTERMException as err:
            # Lightning stops on SIGTERM (a scheduler's pre-emption) with a SystemExit without a code, which
            # would exit 0 as if the run had finished: say so, and exit as a terminated process does.
            failed = True
            if pl.utilities.rank_zero_only.rank == 0:
                record_failure(output_dir, err, choices_or_empty(), status=INTERRUPTED)
                last = output_dir / "checkpoints" / "last.ckpt"
                resume = f"; resume with ckpt_path={last} hydra.run.dir={output_dir}" if last.exists() else ""
                log.error("run interrupted by SIGTERM before it finished%s", resume)
            raise SystemExit(INTERRUPTED_EXIT_CODE) from err
        except Exception as err:
            failed = True
            if pl.utilities.rank_zero_only.rank == 0 and not isinstance(
                err, (RunDirectoryTaken, RunDirectoryUnwritable)
            ):
                written = record_failure(output_dir, err, choices_or_empty())
                if written.name != "metrics.json":
                    log.error("the run's earlier results stay in metrics.json; this failure is in %s", written)
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                log.error("job failed (%s: %s); details in %s/metrics.json", type(err).__name__, err, output_dir)
                return {"status": FAILED}
            raise
        finally:
            finish_wandb_run(failed)
            release_output_dir(output_dir)

    return wrapper
