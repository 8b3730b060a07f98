"""The output-directory guard: a run never writes into another run's directory (finished or still running),
and an unusable directory is found before any work starts.

It acts twice: `OutputDirGuard`, a Hydra callback, before Hydra writes anything for the job (its `.hydra/`
copy of the config, its log); and `check_output_dir` inside the task, which also serves tasks called from
Python. A running run marks its directory with `RUNNING_MARKER` (host and process id) until it ends; a marker
whose process is gone (a killed run) does not hold the directory.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from lle.atomic import remove_stale_temporaries, write_text_atomic

RUNNING_MARKER = ".lle-running.json"
OPTUNA_DATABASE = "optuna.db"  # conf/hparams_search/optuna*.yaml: the study, in the sweep directory
SQLITE_PREFIX = "sqlite:///"


class RunDirectoryTaken(FileExistsError):
    """The output directory holds another run's results: this run must not write anything there."""


class RunDirectoryUnwritable(PermissionError):
    """The output directory cannot be created or written: found before any work starts."""


def unusable_directory(folder: Path) -> str | None:
    """Why `folder` cannot be created or written (a file in its place or above it, a read-only parent), or None."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file" if existing == folder else f"{existing}, above it, is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def refuse_taken_dir(output_dir: Path, resume_from: str | None = None) -> None:
    """Raise RunDirectoryTaken if another run is running in `output_dir`, or finished there and this run does
    not resume it (`ckpt_path=<run>/checkpoints/last.ckpt hydra.run.dir=<run>`). Writes nothing."""
    unusable = unusable_directory(output_dir)
    if unusable:
        raise RunDirectoryUnwritable(f"output directory {output_dir}: {unusable}; choose another hydra.run.dir")
    if not _is_rank_zero():
        return  # the other processes of a DDP run follow rank 0 into its directory
    holder = _running_holder(output_dir)
    if holder is not None:
        raise RunDirectoryTaken(
            f"{output_dir} is in use by a run in progress (process {holder['pid']} on {holder['host']}); "
            f"choose another hydra.run.dir, or wait for it to end"
        )
    finished = [p.name for p in (output_dir / "metrics.json", output_dir / "checkpoints" / "last.ckpt") if p.exists()]
    if finished and not _resumes_inside(output_dir, resume_from):
        raise RunDirectoryTaken(
            f"{output_dir} already holds a run ({', '.join(finished)}); choose another hydra.run.dir, or resume "
            f"that run with ckpt_path={output_dir / 'checkpoints' / 'last.ckpt'} hydra.run.dir={output_dir}"
        )


def check_output_dir(output_dir: Path, resume_from: str | None = None) -> None:
    """`refuse_taken_dir`, then claim the directory for this run: create it, check that it is writable, mark it
    as running, and (when resuming) remove what a killed writer left behind."""
    refuse_taken_dir(output_dir, resume_from)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        # One probe per process: the tasks of a SLURM DDP job start together on a shared file system.
        probe = output_dir / f".lle-write-test-{socket.gethostname()}-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunDirectoryUnwritable(f"output directory {output_dir} is not writable: {err}") from err
    if _is_rank_zero():
        remove_stale_temporaries(output_dir)  # a fresh or resumed run: no writer of ours is at work yet
        write_text_atomic(output_dir / RUNNING_MARKER, json.dumps(_this_process()))


def release_output_dir(output_dir: Path) -> None:
    """Remove this process's running marker (never another run's)."""
    marker = output_dir / RUNNING_MARKER
    if _read_marker(marker) == _this_process():
        marker.unlink(missing_ok=True)


class OutputDirGuard(Callback):
    """Hydra callback (conf/train.yaml, conf/eval.yaml): refuse a taken run directory, or an existing sweep
    directory, before Hydra writes into it. The refusal is one message and exit status 2, like any usage error
    (a SystemExit: Hydra turns a callback's exceptions into warnings). `resume_from` is the task's checkpoint
    option (lle-train's ckpt_path)."""

    def __init__(self, resume_from: str | None = None):
        self.resume_from = resume_from

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._refuse(refuse_taken_dir, Path(str(config.hydra.run.dir)).absolute(), self.resume_from)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        self._refuse(_refuse_existing_sweep, sweep_dir, _continues_study(config.hydra.sweeper, sweep_dir))
        if _is_rank_zero():  # the search's own process holds its directory until it ends
            sweep_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(sweep_dir / RUNNING_MARKER, json.dumps(_this_process()))

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        release_output_dir(Path(str(config.hydra.sweep.dir)).absolute())

    @staticmethod
    def _refuse(check, *args) -> None:
        try:
            check(*args)
        except (RunDirectoryTaken, RunDirectoryUnwritable) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from err


# What a sweep leaves in its directory: Hydra's basic sweeper, the Optuna sweeper's result, lle's Optuna study.
SWEEP_FILES = ("multirun.yaml", "optimization_results.yaml", OPTUNA_DATABASE)


def _refuse_existing_sweep(sweep_dir: Path, continues_study: bool = False) -> None:
    """A sweep directory is never reused, except by the Optuna search whose study it holds, which continues it
    (`lle.runs.optuna_study`); never while another search is at work in it."""
    if not _is_rank_zero():
        return
    unusable = unusable_directory(sweep_dir)
    if unusable:
        raise RunDirectoryUnwritable(f"sweep directory {sweep_dir}: {unusable}; choose another hydra.sweep.dir")
    holder = _running_holder(sweep_dir)
    if holder is not None:
        raise RunDirectoryTaken(
            f"{sweep_dir} is in use by a sweep in progress (process {holder['pid']} on {holder['host']}); "
            "choose another hydra.sweep.dir, or wait for it to end"
        )
    found = [name for name in SWEEP_FILES if (sweep_dir / name).exists()]
    if found and not continues_study:
        raise RunDirectoryTaken(
            f"{sweep_dir} already holds a sweep ({', '.join(found)}); choose another hydra.sweep.dir "
            "(the default is a new one per invocation; an Optuna search, hparams_search=…, continues the study "
            f"in its sweep directory's {OPTUNA_DATABASE})"
        )


def sqlite_file(storage: Any) -> Path | None:
    """The database file of a `sqlite:///<path>` storage URL (relative paths: to the working directory)."""
    if isinstance(storage, str) and storage.startswith(SQLITE_PREFIX):
        return Path(storage[len(SQLITE_PREFIX) :])
    return None


def study_in(sweep_dir: Path, storage: Any) -> bool:
    """Whether `storage` is a SQLite file inside `sweep_dir`: the sweep directory owns that study."""
    path = sqlite_file(storage)
    return path is not None and path.absolute().resolve().is_relative_to(sweep_dir.absolute().resolve())


def _continues_study(sweeper: Any, sweep_dir: Path) -> bool:
    """lle's resumable Optuna sweeper, started again on the study file it left in `sweep_dir`."""
    if not sweeper or not str(sweeper.get("_target_", "")).endswith("ResumableOptunaSweeper"):
        return False
    database = sqlite_file(sweeper.get("storage"))
    return study_in(sweep_dir, sweeper.get("storage")) and database is not None and database.is_file()


def _this_process() -> dict[str, Any]:
    process: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    if os.environ.get("SLURM_JOB_ID"):  # a requeued job reruns on any node: its earlier attempt is known by these
        process["slurm_job"] = os.environ["SLURM_JOB_ID"]
        process["slurm_restart"] = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    return process


def _earlier_attempt_of_this_job(holder: dict[str, Any]) -> bool:
    """The marker was left by an earlier run of this SLURM job, before it was requeued (on this or another node)."""
    me = _this_process()
    return (
        "slurm_job" in me
        and holder.get("slurm_job") == me["slurm_job"]
        and holder.get("slurm_restart", 0) < me["slurm_restart"]
    )


def _read_marker(marker: Path) -> dict[str, Any] | None:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def _running_holder(output_dir: Path) -> dict[str, Any] | None:
    """The process that marked `output_dir` as running, if it is still alive (on another host: assumed)."""
    holder = _read_marker(output_dir / RUNNING_MARKER)
    if not isinstance(holder, dict) or holder == _this_process() or _earlier_attempt_of_this_job(holder):
        return None
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder.get("pid", -1)), 0)
        except ProcessLookupError:
            return None  # the run was killed: its marker holds nothing
        except (PermissionError, ValueError, OverflowError):
            pass
    return holder


def _is_rank_zero() -> bool:
    # Before the Trainer exists, the launcher's environment says which process this is.
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


AUTO_RESUME = "auto"  # ckpt_path=auto: continue this run directory's last.ckpt if it has one, else start afresh


def resume_option(ckpt_path: str | None) -> str | None:
    """The checkpoint option in effect: as given, except that a SLURM job that was requeued (pre-empted, or
    requeued on SIGUSR1 by `lle.callbacks.preemption`) reruns the same command line, so it continues its run
    directory as if `ckpt_path=auto` had been given."""
    if (
        ckpt_path is None
        and os.environ.get("SLURM_JOB_ID")
        and os.environ.get("SLURM_RESTART_COUNT", "0") not in ("", "0")
    ):
        return AUTO_RESUME
    return ckpt_path


def auto_resume_checkpoint(output_dir: Path) -> Path | None:
    """What `ckpt_path=auto` resumes from: the run directory's `last.ckpt`, if there is one."""
    last = output_dir / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None


def _resumes_inside(output_dir: Path, resume_from: str | None) -> bool:
    resume_from = resume_option(resume_from)
    if not resume_from:
        return False
    if resume_from == AUTO_RESUME:  # a finished run without a checkpoint (nothing trained) is not continued
        return auto_resume_checkpoint(output_dir) is not None
    if resume_from in ("last", "hpc"):  # Lightning's names for a checkpoint of this run
        return True
    return Path(resume_from).expanduser().resolve().is_relative_to(output_dir.resolve())
