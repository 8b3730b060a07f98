"""SID (Learning-to-See-in-the-Dark) RAW pairs as a torch Dataset, and their one-off preprocessing.

Items follow the official `train_Sony.py` / `train_Fuji.py`: the packed short exposure times the (capped)
exposure ratio, clipped to 1 (ALEN does not clip: `clip_input=False`); the long exposure developed by LibRaw
as the target; random crops at the packed resolution with the target cropped at ×2 (Bayer) or ×3 (X-Trans),
and the same flips/transpose on both.

Developing a full-size ground truth takes ≈1.6 s and 73 MB, so for real data run `prepare_sid` once: it
writes every ground truth and packed input as uint16 `.npy` that the dataset memory-maps, and records the
black/white levels the inputs were packed with, which the dataset checks against its own.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import torch
from torch.utils.data import Dataset

from lle.data.augment import random_paired_crop
from lle.data.base import EnhancementDataModule
from lle.data.io import to_float_tensor
from lle.data.raw import (
    SID_RATIO_CAP,
    SidListEntry,
    exposure_ratio,
    load_packed,
    postprocess_ground_truth,
    read_sid_list,
)

log = logging.getLogger(__name__)

# README: misaligned test scenes, to leave out of quantitative results.
SID_MISALIGNED_SCENES = (10034, 10045, 10172)
# Packed inputs are cached as uint16 of value·65535: the rounding (≤ 7.6e-6) is an eighth of a 14-bit DN step.
_PACKED_SCALE = 65535.0
# What `prepare_sid` made a cache with: whether inputs are packed, and with which black/white levels.
_CACHE_RECORD = "lle_sid_cache.json"
SAMPLING = ("per_pair", "per_scene")
_MAX_LISTED_MISSING = 5


def _relative(path: Path, list_root: Path) -> Path:
    try:
        return path.relative_to(list_root)
    except ValueError:  # an absolute path in a list: mirror it by name only
        return Path(path.name)


def cache_path(raw_path: Path, list_root: Path, cache_dir: str | os.PathLike) -> Path:
    """Where `prepare_sid` stores the array of a RAW file: the list's relative path, suffix `.npy`."""
    return Path(cache_dir) / _relative(raw_path, list_root).with_suffix(".npy")


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    # A unique temp name, then a rename: an interrupted run leaves no half-written file that would be taken as
    # done, and two processes writing the same file never write into one temp file.
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _levels(black: float | None, white: float | None) -> dict[str, float | None]:
    return {"black": None if black is None else float(black), "white": None if white is None else float(white)}


def _describe_levels(levels: dict[str, float | None]) -> str:
    return ", ".join(f"{name}={'from each file' if value is None else f'{value:g}'}" for name, value in levels.items())


def _prepare_command(list_file: Path, out_dir: Path | str, levels: dict[str, float | None]) -> str:
    options = [f"--{name} {value:g}" for name, value in levels.items() if value is not None]
    return " ".join(["lle-prepare-sid", str(list_file), "--out", str(out_dir), *options])


def read_cache_record(cache_dir: str | os.PathLike) -> dict | None:
    """`{"inputs": bool, "black": …, "white": …}` as `prepare_sid` recorded it; None for an older cache."""
    path = Path(cache_dir) / _CACHE_RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def _record_cache_levels(out_dir: Path, black: float | None, white: float | None, inputs: bool) -> None:
    """Records the levels of the packed inputs, refusing to add inputs packed with other levels."""
    recorded, levels = read_cache_record(out_dir), _levels(black, white)
    if inputs and recorded is not None and recorded["inputs"]:
        before = _levels(recorded["black"], recorded["white"])
        if before != levels:
            raise ValueError(f"{out_dir} holds inputs packed with {_describe_levels(before)}, not "
                             f"{_describe_levels(levels)}: pass the same --black/--white, or use a fresh --out")
    if inputs or recorded is None:  # a ground-truth-only run keeps the record of earlier inputs
        record = {"inputs": True, **levels} if inputs else {"inputs": False}
        _write_atomically(out_dir / _CACHE_RECORD, lambda handle: handle.write(json.dumps(record).encode()))


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
                _write_atomically(target, functools.partial(np.save, arr=make(raw_path)))
                written.append(target)
                log.info("prepared %s", target)
    return written


def _quantise(packed: np.ndarray) -> np.ndarray:
    return np.round(np.clip(packed, 0.0, 1.0) * _PACKED_SCALE).astype(np.uint16)


class SIDDataset(Dataset):
    """Pairs of an official SID list file: `{"input", "target", "name", "ratio"}`.

    Args:
        list_file: `Sony_train_list.txt` etc.; RAW paths are relative to its folder.
        patch_size: crop side on the packed input (official 512; the target gets ×2, ×3 for X-Trans); None
            returns whole images.
        augment: random flip of H, of W and transpose, identical on input and target (official).
        cache_dir: the `out_dir` of `prepare_sid`; None decodes RAW files at every access (slow, for small data).
        first_burst_only: keep only burst `_00` inputs, as the official train and test scripts do.
        exclude_scenes: scene ids to drop, e.g. `SID_MISALIGNED_SCENES` for test metrics.
        black, white: level overrides (SID's 512/16383 for Sony, 1024/16383 for Fuji); default from the file.
            With a cache, they must be the levels `prepare_sid` packed its inputs with.
        ratio_cap: the official cap, 300.
        seed: with the `(epoch, index)` training keys, draws every crop and flip.
        clip_input: clip the amplified input at 1, as SID does; ALEN does not (spec alen.md §6.4).
        sample: `per_pair`, one item per list row; or `per_scene`, one item per ground truth that draws one of
            its short exposures at every access, as the official training loops do (an epoch is one pass over
            the scenes).

    Every file the dataset will read is checked when it is built. Keys `(epoch, index)` draw a fresh crop per
    epoch; a plain index gives a fixed one (evaluation).
    """

    def __init__(self, list_file: str | os.PathLike, patch_size: int | None = 512, augment: bool = True,
                 cache_dir: str | os.PathLike | None = None, first_burst_only: bool = True,
                 exclude_scenes: Sequence[int] = (), black: float | None = None, white: float | None = None,
                 ratio_cap: float = SID_RATIO_CAP, seed: int = 0, clip_input: bool = True,
                 sample: str = "per_pair"):
        if sample not in SAMPLING:
            raise ValueError(f"sample must be one of {SAMPLING}, got {sample!r}")
        self.list_file = Path(list_file)
        self.root = self.list_file.parent
        excluded = set(exclude_scenes)
        self.entries: list[SidListEntry] = [
            e for e in read_sid_list(self.list_file)
            if int(e.short.name[:5]) not in excluded and (not first_burst_only or e.short.name[5:9] == "_00_")
        ]
        if not self.entries:
            raise ValueError(f"{self.list_file}: no pairs left after filtering")
        self.items = _group_by_target(self.entries) if sample == "per_scene" else [[e] for e in self.entries]
        self.patch_size, self.augment, self.seed = patch_size, augment, seed
        self.black, self.white, self.ratio_cap, self.clip_input = black, white, ratio_cap, clip_input
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.inputs_cached = self.cache_dir is not None and self._cache_has_inputs()
        self._check_files_exist()

    def __len__(self) -> int:
        return len(self.items)

    def _cache_has_inputs(self) -> bool:
        """Whether the cache holds packed inputs (else they are decoded), refusing ones packed at other levels."""
        recorded = read_cache_record(self.cache_dir)
        if recorded is None:
            if not self.cache_dir.is_dir():
                return True  # nothing prepared yet: the missing files are reported next
            log.warning("%s does not record the levels its inputs were packed with (an older lle-prepare-sid): "
                        "data.black/data.white cannot be checked against it", self.cache_dir)
            return True
        if not recorded["inputs"]:
            return False
        cached, wanted = _levels(recorded["black"], recorded["white"]), _levels(self.black, self.white)
        if cached != wanted:
            raise ValueError(
                f"{self.cache_dir} holds inputs packed with {_describe_levels(cached)}, but data.black/data.white "
                f"ask for {_describe_levels(wanted)}: set data.black/data.white to the cache's levels, or run "
                f"{_prepare_command(self.list_file, '<a fresh folder>', wanted)}")
        return True

    def _input_file(self, entry: SidListEntry) -> Path:
        return cache_path(entry.short, self.root, self.cache_dir) if self.inputs_cached else entry.short

    def _target_file(self, entry: SidListEntry) -> Path:
        return entry.long if self.cache_dir is None else cache_path(entry.long, self.root, self.cache_dir)

    def _check_files_exist(self) -> None:
        # At construction (DataModule.setup), not at the first access: a missing file would otherwise stop a
        # run hours in, far from the list row that names it.
        lines_by_file: dict[Path, list[int]] = {}
        for entry in self.entries:
            for path in (self._input_file(entry), self._target_file(entry)):
                lines_by_file.setdefault(path, []).append(entry.line)
        missing = {path: lines for path, lines in lines_by_file.items() if not path.is_file()}
        if missing:
            raise FileNotFoundError(self._missing_files_message(missing))

    def _missing_files_message(self, missing: dict[Path, list[int]]) -> str:
        if self.cache_dir is not None and any(path.is_relative_to(self.cache_dir) for path in missing):
            advice = f"run {_prepare_command(self.list_file, self.cache_dir, _levels(self.black, self.white))}"
        else:
            advice = "check data.root and that the dataset is completely extracted"
        rows = [f"  {_describe_lines(lines)}: {path}" for path, lines in list(missing.items())[:_MAX_LISTED_MISSING]]
        if len(missing) > _MAX_LISTED_MISSING:
            rows.append(f"  ... and {len(missing) - _MAX_LISTED_MISSING} more")
        return (f"{self.list_file}: {len(missing)} file(s) needed by its rows are missing; {advice}:\n"
                + "\n".join(rows))

    def _input(self, entry: SidListEntry) -> np.ndarray:
        if self.inputs_cached:
            return np.load(self._input_file(entry), mmap_mode="r")
        return load_packed(entry.short, self.black, self.white)

    def _target(self, entry: SidListEntry) -> np.ndarray:
        if self.cache_dir is None:
            return postprocess_ground_truth(entry.long)
        return np.load(self._target_file(entry), mmap_mode="r")

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        rng = np.random.default_rng([self.seed, index] if epoch is None else [self.seed, epoch, index])
        choices = self.items[index]
        # per_scene: a fresh short exposure of the scene at every access, as train_Sony.py's random in_files pick.
        entry = choices[int(rng.integers(len(choices)))] if len(choices) > 1 else choices[0]
        packed = self._input(entry)
        channels, h, w = packed.shape
        scale = 3 if channels == 9 else 2
        # Crop in h×w×C views so that only the patch is read from a memory map.
        low = np.moveaxis(packed, 0, -1)
        high = self._target(entry)[: h * scale, : w * scale]
        if self.patch_size is not None:
            if min(h, w) < self.patch_size:
                raise ValueError(f"{entry.short}: packed size {h}×{w} is smaller than patch_size {self.patch_size}")
            low, high = random_paired_crop(low, high, self.patch_size, rng, scale=scale)
        if self.augment:
            low, high = _flip_and_transpose(low, high, rng)

        low = np.asarray(low, dtype=np.float32)
        if packed.dtype == np.uint16:
            low = low / np.float32(_PACKED_SCALE)
        ratio = exposure_ratio(entry.short, entry.long, cap=self.ratio_cap)
        low = low * np.float32(ratio)
        if self.clip_input:  # train_Sony.py L186 `np.minimum(input_patch, 1.0)`; ALEN's dataset.py does not
            low = np.minimum(low, np.float32(1.0))
        return {
            "input": torch.from_numpy(np.ascontiguousarray(low.transpose(2, 0, 1))),
            "target": to_float_tensor(np.asarray(high)),
            "name": entry.short.stem,
            "ratio": float(ratio),
        }


def _group_by_target(entries: list[SidListEntry]) -> list[list[SidListEntry]]:
    """The short exposures of each ground truth, in list order (SID's scenes: one long exposure each)."""
    groups: dict[Path, list[SidListEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.long, []).append(entry)
    return list(groups.values())


def _describe_lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:_MAX_LISTED_MISSING])
    more = ", ..." if len(lines) > _MAX_LISTED_MISSING else ""
    return f"{'line' if len(lines) == 1 else 'lines'} {shown}{more}"


def _flip_and_transpose(low: np.ndarray, high: np.ndarray, rng: np.random.Generator):
    """The official three coin flips: flip H, flip W, swap H and W; the same on both images."""
    flip_h, flip_w, transpose = rng.integers(0, 2, size=3)
    if flip_h:
        low, high = low[::-1], high[::-1]
    if flip_w:
        low, high = low[:, ::-1], high[:, ::-1]
    if transpose:
        low, high = low.transpose(1, 0, 2), high.transpose(1, 0, 2)
    return low, high


class SIDDataModule(EnhancementDataModule):
    """SID-style RAW pairs from the official list files `<camera>_{train,val,test}_list.txt` under `root`.

    SID has an official validation list, used for checkpoint selection. Packed Bayer inputs have 4
    channels at half the target's resolution (X-Trans: 9 channels, a third), which model configs read
    through `data.in_channels` / `data.upscale`.

    Args:
        root: the folder holding the list files (RAW paths in them are relative to it).
        camera: `Sony` or `Fuji` (names the list files).
        patch_size: training crop on the packed input (official 512).
        eval_patch_size: None evaluates whole frames (the protocol); an int takes a fixed crop (quick checks).
        cache_dir: the output of `lle-prepare-sid` (uint16 .npy, memory-mapped); None decodes RAW files on
            every access, which is fine for small data only.
        exclude_misaligned_test_scenes: drop scenes 10034, 10045, 10172 from the test split, as SID's README says.
        black, white: level overrides; with a cache, the levels `lle-prepare-sid` was run with.
        clip_input: clip the amplified input at 1 (SID); ALEN does not.
        sample: how training epochs are formed: `per_scene` (the official loops: one random short exposure of
            every ground truth) or `per_pair` (every list row). Evaluation always uses every pair.
    """

    def __init__(self, root: str, camera: str = "Sony", name: str = "sid", patch_size: int = 512,
                 eval_patch_size: int | None = None, cache_dir: str | None = None,
                 exclude_misaligned_test_scenes: bool = True, black: float | None = None, white: float | None = None,
                 clip_input: bool = True, sample: str = "per_pair", **loader_args):
        super().__init__(**loader_args)
        self.root, self.camera, self.name = Path(root).expanduser(), camera, name
        self.patch_size, self.eval_patch_size, self.cache_dir = patch_size, eval_patch_size, cache_dir
        self.exclude_misaligned, self.sample = exclude_misaligned_test_scenes, sample
        self.item_args = {"black": black, "white": white, "clip_input": clip_input}

    def list_file(self, split: str) -> Path:
        path = self.root / f"{self.camera}_{split}_list.txt"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: data.root must hold the official list files "
                f"{self.camera}_train_list.txt, {self.camera}_val_list.txt and {self.camera}_test_list.txt "
                f"(rows like ./{self.camera}/short/00001_00_0.1s.ARW ./{self.camera}/long/00001_00_10s.ARW ISO200 F8)")
        return path

    def _dataset(self, split: str, patch_size: int | None, augment: bool, exclude=(),
                 sample: str = "per_pair") -> SIDDataset:
        return SIDDataset(self.list_file(split), patch_size=patch_size, augment=augment, cache_dir=self.cache_dir,
                          exclude_scenes=exclude, seed=self.seed, sample=sample, **self.item_args)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            self.train_set = self._dataset("train", self.patch_size, augment=True, sample=self.sample)
            self.val_set = self._dataset("val", self.eval_patch_size, augment=False)
        if stage in (None, "test", "predict") and self.test_set is None:
            exclude = SID_MISALIGNED_SCENES if self.exclude_misaligned else ()
            self.test_set = self._dataset("test", self.eval_patch_size, augment=False, exclude=exclude)


class SyntheticRawDataModule(SIDDataModule):
    """The embedded default for RAW: a miniature SID tree of real DNG files, written from the photographs
    that ship with scikit-image (unprocessing, mosaic, exposure ratios 100/250/300, large-sensor noise),
    then read through exactly the same rawpy path as real ARW/RAF files."""

    def __init__(self, root: str, num_scenes: int = 12, image_size: tuple[int, int] = (256, 384),
                 camera: str = "Sony", name: str = "synthetic_raw", **sid_args):
        super().__init__(root=root, camera=camera, name=name, **sid_args)
        self.num_scenes, self.image_size = num_scenes, tuple(image_size)

    def prepare_data(self) -> None:
        """Writes the tree unless it is there. Safe on every DDP rank at once: each rank writes a private copy
        and moves its files in by atomic renames, list files last, so a reader never sees a partial file and
        the list files exist only once everything they name does."""
        from lle.data.synthetic import write_mini_sid_tree

        if self._tree_is_written():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.", suffix=".partial", dir=self.root.parent))
        try:
            write_mini_sid_tree(staging, n_scenes=self.num_scenes, camera=self.camera, size=self.image_size,
                                seed=self.seed)
            _move_tree(staging, self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _tree_is_written(self) -> bool:
        return all((self.root / f"{self.camera}_{split}_list.txt").is_file() for split in ("train", "val", "test"))

    def setup(self, stage: str | None = None) -> None:
        self.prepare_data()  # also when used outside a Trainer
        super().setup(stage)


def _move_tree(source: Path, destination: Path) -> None:
    """Renames every file of `source` into `destination`, `.txt` lists last; existing files are kept, as
    only whole files are ever renamed into place (another rank's copy of the same seed is identical)."""
    files = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: (p.suffix == ".txt", str(p)))
    for file in files:
        target = destination / file.relative_to(source)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file, target)
