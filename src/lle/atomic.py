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
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary path beside `path` for a writer that wants a file name (e.g. `torch.onnx.export`).

    When the block ends normally the file is flushed to disk and renamed over `path`; when it raises (or is
    interrupted) the temporary file is removed and `path` is left as it was. The name is unique, so processes
    writing the same target (the ranks of a DDP job) never write into one temporary file.
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
        os.replace(partial, path)
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


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """Call `write(handle)` on a binary file that replaces `path` atomically once `write` returns."""
    with atomic_path(path) as partial, open(partial, "wb") as handle:
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
