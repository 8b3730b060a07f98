"""The SID cache that `lle-prepare-sid` writes once, and the record of the levels its inputs were packed with.

Developing a full-size ground truth takes ≈1.6 s and 73 MB, so for real data `prepare_sid` writes every ground
truth and packed input as uint16 `.npy` that `lle.data.sid.SIDDataset` memory-maps. Packed inputs depend on
the black/white levels; the cache records them, and both a later `prepare_sid` and a dataset with other levels
are refused, since mixing them would silently shift every input.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lle.atomic import write_atomic, write_text_atomic
from lle.data.raw import load_packed, postprocess_ground_truth, read_sid_list

log = logging.getLogger(__name__)

# Packed inputs are cached as uint16 of value·65535: the rounding (≤ 7.6e-6) is an eighth of a 14-bit DN step.
PACKED_SCALE = 65535.0
# What `prepare_sid` made a cache with: whether inputs are packed, and with which black/white levels.
CACHE_RECORD = "lle_sid_cache.json"


def _relative(path: Path, list_root: Path) -> Path:
    try:
        return path.relative_to(list_root)
    except ValueError:  # an absolute path in a list: mirror it by name only
        return Path(path.name)


def cache_path(raw_path: Path, list_root: Path, cache_dir: str | os.PathLike) -> Path:
    """Where `prepare_sid` stores the array of a RAW file: the list's relative path, suffix `.npy`."""
    return Path(cache_dir) / _relative(raw_path, list_root).with_suffix(".npy")


def levels(black: float | None, white: float | None) -> dict[str, float | None]:
    """Levels in the form the record stores them (None: each file's own), so that they compare exactly."""
    return {"black": None if black is None else float(black), "white": None if white is None else float(white)}


def describe_levels(recorded: dict[str, float | None]) -> str:
    return ", ".join(
        f"{name}={'from each file' if value is None else f'{value:g}'}" for name, value in recorded.items()
    )


def prepare_command(list_file: Path, out_dir: Path | str, recorded: dict[str, float | None]) -> str:
    """The `lle-prepare-sid` command line that makes a cache with these levels, for error messages."""
    options = [f"--{name} {value:g}" for name, value in recorded.items() if value is not None]
    return " ".join(["lle-prepare-sid", str(list_file), "--out", str(out_dir), *options])


def read_cache_record(cache_dir: str | os.PathLike) -> dict | None:
    """`{"inputs": bool, "black": …, "white": …}` as `prepare_sid` recorded it; None for an older cache."""
    path = Path(cache_dir) / CACHE_RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def cache_holds_inputs(cache_dir: Path, black: float | None, white: float | None, list_file: Path) -> bool:
    """Whether a dataset should read packed inputs from `cache_dir` (else it decodes the RAW files).

    Raises ValueError when the cache's inputs were packed with other levels than `black`/`white`.
    """
    recorded = read_cache_record(cache_dir)
    if recorded is None:
        if not cache_dir.is_dir():
            return True  # nothing prepared yet: the dataset reports the missing files next
        log.warning(
            "%s does not record the levels its inputs were packed with (an older lle-prepare-sid): "
            "data.black/data.white cannot be checked against it",
            cache_dir,
        )
        return True
    if not recorded["inputs"]:
        return False
    cached, wanted = levels(recorded["black"], recorded["white"]), levels(black, white)
    if cached != wanted:
        raise ValueError(
            f"{cache_dir} holds inputs packed with {describe_levels(cached)}, but data.black/data.white "
            f"ask for {describe_levels(wanted)}: set data.black/data.white to the cache's levels, or run "
            f"{prepare_command(list_file, '<a fresh folder>', wanted)}"
        )
    return True


def _record_cache_levels(out_dir: Path, black: float | None, white: float | None, inputs: bool) -> None:
    """Records the levels of the packed inputs, refusing to add inputs packed with other levels."""
    recorded, wanted = read_cache_record(out_dir), levels(black, white)
    if inputs and recorded is not None and recorded["inputs"]:
        before = levels(recorded["black"], recorded["white"])
        if before != wanted:
            raise ValueError(
                f"{out_dir} holds inputs packed with {describe_levels(before)}, not "
                f"{describe_levels(wanted)}: pass the same --black/--white, or use a fresh --out"
            )
    if inputs or recorded is None:  # a ground-truth-only run keeps the record of earlier inputs
        record = {"inputs": True, **wanted} if inputs else {"inputs": False}
        write_text_atomic(out_dir / CACHE_RECORD, json.dumps(record))


def prepare_sid(
    list_files: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    black: float | None = None,
    white: float | None = None,
    inputs: bool = True,
) -> list[Path]:
    """Develops every ground truth (H×W×3 uint16) and packs every input (C×h×w uint16 of value·65535) once.

    Files mirror the list layout under `out_dir` (`Sony/long/00001_00_10s.npy`). Finished files are skipped,
    so an interrupted run resumes. The packed inputs depend on `black`/`white`, which are recorded in
    `out_dir`: a later call, or a dataset, with other levels is refused. Returns the files written by this call.
    """
    _record_cache_levels(Path(out_dir), black, white, inputs)
    written = []
    for list_file in list_files:
        list_file = Path(list_file)
        root = list_file.parent
        for entry in read_sid_list(list_file):
            jobs = [(entry.long, postprocess_ground_truth)]
            if inputs:
                jobs.append((entry.short, lambda p: _quantise(load_packed(p, black, white))))
            for raw_path, make in jobs:
                target = cache_path(raw_path, root, out_dir)
                if target.exists():
                    continue
                # Whole files only: a file that exists is finished, which is what makes a resumed run skip it.
                write_atomic(target, functools.partial(np.save, arr=make(raw_path)))
                written.append(target)
                log.info("prepared %s", target)
    return written


def _quantise(packed: np.ndarray) -> np.ndarray:
    return np.round(np.clip(packed, 0.0, 1.0) * PACKED_SCALE).astype(np.uint16)
