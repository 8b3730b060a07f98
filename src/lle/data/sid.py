"""SID (Learning-to-See-in-the-Dark) RAW pairs as a torch Dataset, and their one-off preprocessing.

Items follow the official `train_Sony.py` / `train_Fuji.py`: the packed short exposure times the (capped)
exposure ratio, clipped to 1; the long exposure developed by LibRaw as the target; random crops at the packed
resolution with the target cropped at ×2 (Bayer) or ×3 (X-Trans), and the same flips/transpose on both.

Developing a full-size ground truth takes ≈1.6 s and 73 MB, so for real data run `prepare_sid` once: it
writes every ground truth and packed input as uint16 `.npy` that the dataset memory-maps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

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
    pack_raw,
    postprocess_ground_truth,
    read_raw,
    read_sid_list,
)

log = logging.getLogger(__name__)

# README: misaligned test scenes, to leave out of quantitative results.
SID_MISALIGNED_SCENES = (10034, 10045, 10172)
# Packed inputs are cached as uint16 of value·65535: the rounding (≤ 7.6e-6) is an eighth of a 14-bit DN step.
_PACKED_SCALE = 65535.0


def _relative(path: Path, list_root: Path) -> Path:
    try:
        return path.relative_to(list_root)
    except ValueError:  # an absolute path in a list: mirror it by name only
        return Path(path.name)


def cache_path(raw_path: Path, list_root: Path, cache_dir: str | os.PathLike) -> Path:
    """Where `prepare_sid` stores the array of a RAW file: the list's relative path, suffix `.npy`."""
    return Path(cache_dir) / _relative(raw_path, list_root).with_suffix(".npy")


def _save_atomically(path: Path, array: np.ndarray) -> None:
    # A temp name then rename: an interrupted run leaves no half-written file that would be taken as done.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        np.save(handle, array)
    os.replace(partial, path)


def load_packed(path: Path, black: float | None = None, white: float | None = None) -> np.ndarray:
    """A RAW file packed (4 or 9 channels, C×h×w float32 in [0, 1]) with the file's or the given levels."""
    with read_raw(path) as raw:
        return pack_raw(raw, black=black, white=white)


def prepare_sid(
    list_files: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    black: float | None = None,
    white: float | None = None,
    inputs: bool = True,
) -> list[Path]:
    """Develops every ground truth (H×W×3 uint16) and packs every input (C×h×w uint16 of value·65535) once.

    Files mirror the list layout under `out_dir` (`Sony/long/00001_00_10s.npy`). Finished files are skipped,
    so an interrupted run resumes. The packed inputs depend on `black`/`white`: use a fresh `out_dir` when
    changing them. Returns the files written by this call.
    """
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
                _save_atomically(target, make(raw_path))
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
        ratio_cap: the official cap, 300.
        seed: with the `(epoch, index)` training keys, draws every crop and flip.

    Keys `(epoch, index)` draw a fresh crop per epoch; a plain index gives a fixed one (evaluation).
    """

    def __init__(self, list_file: str | os.PathLike, patch_size: int | None = 512, augment: bool = True,
                 cache_dir: str | os.PathLike | None = None, first_burst_only: bool = True,
                 exclude_scenes: Sequence[int] = (), black: float | None = None, white: float | None = None,
                 ratio_cap: float = SID_RATIO_CAP, seed: int = 0):
        self.list_file = Path(list_file)
        self.root = self.list_file.parent
        excluded = set(exclude_scenes)
        self.entries: list[SidListEntry] = [
            e for e in read_sid_list(self.list_file)
            if int(e.short.name[:5]) not in excluded and (not first_burst_only or e.short.name[5:9] == "_00_")
        ]
        if not self.entries:
            raise ValueError(f"{self.list_file}: no pairs left after filtering")
        self.patch_size, self.augment, self.seed = patch_size, augment, seed
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.black, self.white, self.ratio_cap = black, white, ratio_cap

    def __len__(self) -> int:
        return len(self.entries)

    def _input(self, entry: SidListEntry) -> np.ndarray:
        if self.cache_dir is None:
            return load_packed(entry.short, self.black, self.white)
        return np.load(self._cached(entry.short), mmap_mode="r")

    def _target(self, entry: SidListEntry) -> np.ndarray:
        if self.cache_dir is None:
            return postprocess_ground_truth(entry.long)
        return np.load(self._cached(entry.long), mmap_mode="r")

    def _cached(self, raw_path: Path) -> Path:
        path = cache_path(raw_path, self.root, self.cache_dir)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run lle.data.sid.prepare_sid on {self.list_file} first")
        return path

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        rng = np.random.default_rng([self.seed, index] if epoch is None else [self.seed, epoch, index])
        entry = self.entries[index]
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
        # Official: amplify, then clip at 1 (L186 `np.minimum(input_patch, 1.0)`).
        low = np.minimum(low * np.float32(ratio), 1.0)
        return {
            "input": torch.from_numpy(np.ascontiguousarray(low.transpose(2, 0, 1))),
            "target": to_float_tensor(np.asarray(high)),
            "name": entry.short.stem,
            "ratio": float(ratio),
        }


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
    """

    def __init__(self, root: str, camera: str = "Sony", name: str = "sid", patch_size: int = 512,
                 eval_patch_size: int | None = None, cache_dir: str | None = None,
                 exclude_misaligned_test_scenes: bool = True, black: float | None = None, white: float | None = None,
                 **loader_args):
        super().__init__(**loader_args)
        self.root, self.camera, self.name = Path(root).expanduser(), camera, name
        self.patch_size, self.eval_patch_size, self.cache_dir = patch_size, eval_patch_size, cache_dir
        self.exclude_misaligned = exclude_misaligned_test_scenes
        self.levels = {"black": black, "white": white}

    def list_file(self, split: str) -> Path:
        path = self.root / f"{self.camera}_{split}_list.txt"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: data.root must hold the official list files "
                f"{self.camera}_train_list.txt, {self.camera}_val_list.txt and {self.camera}_test_list.txt "
                f"(rows like ./{self.camera}/short/00001_00_0.1s.ARW ./{self.camera}/long/00001_00_10s.ARW ISO200 F8)")
        return path

    def _dataset(self, split: str, patch_size: int | None, augment: bool, exclude=()) -> SIDDataset:
        return SIDDataset(self.list_file(split), patch_size=patch_size, augment=augment, cache_dir=self.cache_dir,
                          exclude_scenes=exclude, seed=self.seed, **self.levels)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            self.train_set = self._dataset("train", self.patch_size, augment=True)
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
        from lle.data.synthetic import write_mini_sid_tree

        if not (self.root / f"{self.camera}_test_list.txt").is_file():
            write_mini_sid_tree(self.root, n_scenes=self.num_scenes, camera=self.camera, size=self.image_size,
                                seed=self.seed)

    def setup(self, stage: str | None = None) -> None:
        self.prepare_data()  # also when used outside a Trainer
        super().setup(stage)
