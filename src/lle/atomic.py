"""Files that appear whole or not at all: write to a temporary file beside the target, flush it to disk,
then rename it over the target. A rename within one file system is atomic, so a reader (or a run resumed
after a crash) sees the old file or the new one, never a truncated one.

Every file lle writes that someone may rely on goes through here: checkpoints, metrics.json and the other
run records, exported models, enhanced images, the SID cache.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

TEMPORARY_SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """A fresh temporary path beside `path` for a writer that wants a file name (e.g. `torch.onnx.export`).

    When the block ends normally the file is flushed to disk and renamed over `path`; when it raises (or is
    interrupted) the temporary file is removed and `path` is left as it was. The name is unique, so processes
    writing the same target (the ranks of a DDP job) never write into one temporary file.

    `replace=False` publishes only where `path` does not exist when the file is complete (a hard link, which
    fails if the name is taken): of two processes writing one new file, one wins and the other gets
    `FileExistsError`, instead of both "writing" it and the last one's content staying.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    # mkstemp makes the file private (0600); the result gets the mode a plain open() would have given it.
    os.fchmod(descriptor, _default_mode())
    os.close(descriptor)
    partial = Path(partial)
    try:
        yield partial
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        _publish(partial, path, replace)
    except FileExistsError:
        raise
    except (OSError, RuntimeError) as err:
        if _disk_is_full(err, path.parent):
            partial.unlink(missing_ok=True)  # give the space back before saying so
            raise OSError(
                errno.ENOSPC,
                f"no space left on {path.parent} (writing {path.name}); free some space or write elsewhere",
            ) from err
        raise
    finally:
        partial.unlink(missing_ok=True)


def _publish(partial: Path, path: Path, replace: bool) -> None:
    if replace:
        os.replace(partial, path)
        return
    try:
        try:
            os.link(partial, path)  # atomic, and never over an existing name
            return
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: claim the name exclusively, then fill it
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _default_mode()))
        os.replace(partial, path)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, f"{path} exists (written meanwhile by another process)", str(path)
        ) from None


# Below this, a failed write is taken for a full disk: torch.save reports one as "enforce fail … unexpected pos".
_NEARLY_FULL_BYTES = 16 * 2**20


def _disk_is_full(err: BaseException, folder: Path) -> bool:
    if getattr(err, "errno", None) == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _default_mode() -> int:
    umask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], object], replace: bool = True) -> None:
    """Call `write(handle)` on a binary file that replaces `path` atomically once `write` returns (with
    `replace=False`: that appears at `path` only if no other file has meanwhile, see `atomic_path`)."""
    with atomic_path(path, replace) as partial, open(partial, "wb") as handle:
        write(handle)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer left under `folder` (recursively) and return them.

    Only for a folder no other process is writing into, e.g. a run directory before its run (re)starts.
    """
    stale = [p for p in Path(folder).rglob(f".*{TEMPORARY_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
