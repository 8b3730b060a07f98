"""The wrapper every task (`lle-train`, `lle-eval`) runs in, and the Hydra helpers they share."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lle.config import UsageError
from lle.runs.guard import RunDirectoryTaken, RunDirectoryUnwritable, release_output_dir
from lle.runs.results import FAILED, INTERRUPTED, record_failure

log = logging.getLogger("lle")

# Refusals before a run starts: nothing of the run is recorded (a single run; a sweep records its failed job).
NOT_STARTED = (UsageError, RunDirectoryTaken, RunDirectoryUnwritable)
# What lle raises for a user's mistake (bad values, files, folders, a missing extra): a command prints these
# as one message; other exceptions are bugs and keep their traceback.
# What a console script reports as one block (what, where, how to fix), not a traceback: mistakes in the options
# or the files, and a diverged training (FloatingPointError names the step and the batch).
USER_ERRORS = (ValueError, OSError, ImportError, MemoryError, FloatingPointError)
HYDRA_OWN_FILES = (".hydra",)  # and the job's .log

# What a process killed by SIGTERM reports by convention (128 + 15): schedulers and shells read it as such
# (SIGUSR1: 138).
INTERRUPTED_EXIT_CODE = 128 + signal.SIGTERM


def _rank() -> int:
    # Lightning is imported when a task runs, not when a command starts: `lle-train --help` stays fast.
    from pytorch_lightning.utilities import rank_zero_only

    return rank_zero_only.rank


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
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        from lle.runs.loggers import finish_wandb_run

        output_dir = Path(cfg.paths.output_dir)
        failed = False
        try:
            return task(cfg)
        except SIGTERMException as err:
            # Lightning stops on SIGTERM (a scheduler's pre-emption) with a SystemExit without a code, which
            # would exit 0 as if the run had finished: say so, and exit as a terminated process does (128 +
            # the signal). lle.callbacks.preemption stops the same way on SIGUSR1, with last.ckpt at that step.
            failed = True
            signum = getattr(err, "signum", signal.SIGTERM)
            if _rank() == 0:
                record_failure(output_dir, err, choices_or_empty(), status=INTERRUPTED)
                last = output_dir / "checkpoints" / "last.ckpt"
                resume = (
                    f"; resume with ckpt_path={last} hydra.run.dir={output_dir} (or ckpt_path=auto)"
                    if last.exists()
                    else ""
                )
                log.error("run interrupted by %s before it finished%s", signal.Signals(signum).name, resume)
            raise SystemExit(128 + signum) from err
        except Exception as err:
            failed = True
            multirun = HydraConfig.get().mode == RunMode.MULTIRUN
            # Never into a directory that is not this run's; a refused single run records nothing, a sweep
            # records its refused job, so that lle-report lists it.
            ours = not isinstance(err, (RunDirectoryTaken, RunDirectoryUnwritable))
            if _rank() == 0 and ours and (multirun or not isinstance(err, NOT_STARTED)):
                try:
                    written = record_failure(output_dir, err, choices_or_empty())
                except OSError as unrecorded:  # e.g. the full disk that made the run fail
                    log.error("the failure could not be recorded in %s: %s", output_dir, unrecorded)
                else:
                    if written.name != "metrics.json":
                        log.error("the run's earlier results stay in metrics.json; this failure is in %s", written)
            if multirun:
                log.error("job failed (%s: %s); details in %s/metrics.json", type(err).__name__, err, output_dir)
                return {"status": FAILED}
            raise
        finally:
            finish_wandb_run(failed)
            release_output_dir(output_dir)

    return wrapper


def run_as_command(command: str, task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """`task(cfg)` for a console script. A user's mistake prints one block (what went wrong, where, how to fix
    it, and where the traceback was recorded) and exits with status 2; `HYDRA_FULL_ERROR=1` shows the traceback
    instead. A run that failed before it started leaves no directory behind (only Hydra's files were in it)."""
    try:
        return task(cfg)
    except (*USER_ERRORS, InstantiationException) as raised:
        err = _users_mistake(raised)
        if err is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        output_dir = Path(cfg.paths.output_dir)
        _remove_if_only_hydra_files(output_dir)
        print(f"{command}: error: {err}", file=sys.stderr)
        if (output_dir / "metrics.json").is_file():
            print(
                f"({type(err).__name__}; the traceback is in {output_dir / 'metrics.json'}, or run with "
                "HYDRA_FULL_ERROR=1 to see it here)",
                file=sys.stderr,
            )
        raise SystemExit(2) from err


def _users_mistake(err: BaseException) -> BaseException | None:
    """The user error behind `err`: Hydra wraps what a constructor raised (a DataModule's missing folder) in an
    InstantiationException whose message is the original's repr."""
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return err if isinstance(err, USER_ERRORS) else None


def _remove_if_only_hydra_files(output_dir: Path) -> None:
    if not output_dir.is_dir() or _rank() != 0:
        return
    entries = list(output_dir.iterdir())
    if all(p.name in HYDRA_OWN_FILES or (p.is_file() and p.suffix == ".log") for p in entries):
        shutil.rmtree(output_dir, ignore_errors=True)
