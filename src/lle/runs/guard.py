"""The output-directory guard: a run never writes into another run's directory, and an unusable directory is
found before any work starts."""

from __future__ import annotations

import os
import socket
from pathlib import Path


class RunDirectoryTaken(FileExistsError):
    """The output directory holds another run's results: this run must not write anything there."""


class RunDirectoryUnwritable(PermissionError):
    """The output directory cannot be created or written: found before any work starts."""


def check_output_dir(output_dir: Path, resume_from: str | None = None) -> None:
    """Raise unless `output_dir` is free (or this run resumes inside it) and writable.

    A run may continue in a directory that holds results only when it resumes from a checkpoint inside
    that directory (`ckpt_path=<run>/checkpoints/last.ckpt hydra.run.dir=<run>`).
    """
    finished = [p.name for p in (output_dir / "metrics.json", output_dir / "checkpoints" / "last.ckpt") if p.exists()]
    if finished and not _resumes_inside(output_dir, resume_from):
        raise RunDirectoryTaken(
            f"{output_dir} already holds a run ({', '.join(finished)}); choose another hydra.run.dir, or resume "
            f"that run with ckpt_path={output_dir / 'checkpoints' / 'last.ckpt'} hydra.run.dir={output_dir}"
        )
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
