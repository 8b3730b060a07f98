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


class RunDirectoryTaken(FileExistsError):
    """The output directory holds another run's results: this run must not write anything there."""


class RunDirectoryUnwritable(PermissionError):
    """The output directory cannot be created or written: found before any work starts."""


def refuse_taken_dir(output_dir: Path, resume_from: str | None = None) -> None:
    """Raise RunDirectoryTaken if another run is running in `output_dir`, or finished there and this run does
    not resume it (`ckpt_path=<run>/checkpoints/last.ckpt hydra.run.dir=<run>`). Writes nothing."""
    if output_dir.exists() and not output_dir.is_dir():
        raise RunDirectoryUnwritable(f"output directory {output_dir} is a file; choose another hydra.run.dir")
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
        self._refuse(_refuse_existing_sweep, Path(str(config.hydra.sweep.dir)).absolute())

    @staticmethod
    def _refuse(check, *args) -> None:
        try:
            check(*args)
        except (RunDirectoryTaken, RunDirectoryUnwritable) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from err


def _refuse_existing_sweep(sweep_dir: Path) -> None:
    if _is_rank_zero() and (sweep_dir / "multirun.yaml").exists():
        raise RunDirectoryTaken(
            f"{sweep_dir} already holds a sweep (multirun.yaml); choose another hydra.sweep.dir "
            "(the default is a new one per invocation)"
        )


def _this_process() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _read_marker(marker: Path) -> dict[str, Any] | None:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def _running_holder(output_dir: Path) -> dict[str, Any] | None:
    """The process that marked `output_dir` as running, if it is still alive (on another host: assumed)."""
    holder = _read_marker(output_dir / RUNNING_MARKER)
    if not isinstance(holder, dict) or holder == _this_process():
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


def _resumes_inside(output_dir: Path, resume_from: str | None) -> bool:
    if not resume_from:
        return False
    if resume_from in ("last", "hpc"):  # Lightning's names for a checkpoint of this run
        return True
    return Path(resume_from).expanduser().resolve().is_relative_to(output_dir.resolve())
