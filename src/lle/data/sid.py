"""SID (Learning-to-See-in-the-Dark) RAW pairs as a torch Dataset and a LightningDataModule.

Items follow the official `train_Sony.py` / `train_Fuji.py`: the packed short exposure times the (capped)
exposure ratio, clipped to 1 (ALEN does not clip: `clip_input=False`); the long exposure developed by LibRaw
as the target; random crops at the packed resolution with the target cropped at ×2 (Bayer) or ×3 (X-Trans),
and the same flips/transpose on both.

For real data, run `lle-prepare-sid` (`lle.data.sid_cache`) once and read its memory-mapped cache.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
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
    load_packed,
    postprocess_ground_truth,
    read_sid_list,
)
from lle.data.samplers import TrainingKey
from lle.data.sid_cache import PACKED_SCALE, cache_holds_inputs, cache_path, levels, prepare_command, prepare_sid

# `prepare_sid` is imported above for its old import path `lle.data.sid.prepare_sid`; SyntheticRawDataModule
# is looked up by `__getattr__` at the end.
__all__ = ["SAMPLING", "SID_MISALIGNED_SCENES", "SIDDataModule", "SIDDataset", "prepare_sid"]

log = logging.getLogger(__name__)

# README: misaligned test scenes, to leave out of quantitative results.
SID_MISALIGNED_SCENES = (10034, 10045, 10172)
SAMPLING = ("per_pair", "per_scene")
_MAX_LISTED_MISSING = 5


class SIDDataset(Dataset):
    """Pairs of an official SID list file: `{"input", "target", "name", "ratio"}`.

    Args:
        list_file: `Sony_train_list.txt` etc.; RAW paths are relative to its folder.
        crop_size: crop side on the packed input (official 512; the target gets ×2, ×3 for X-Trans); None
            returns whole images. `TrainingKey`s draw a random crop, plain indices a fixed one.
        augment: random flip of H, of W and transpose, identical on input and target (official).
        cache_dir: the `out_dir` of `prepare_sid`; None decodes RAW files at every access (slow, for small data).
        first_burst_only: keep only burst `_00` inputs, as the official train and test scripts do.
        exclude_scenes: scene ids to drop, e.g. `SID_MISALIGNED_SCENES` for test metrics.
        black, white: level overrides (SID's 512/16383 for Sony, 1024/16383 for Fuji); default from the file.
            With a cache, they must be the levels `prepare_sid` packed its inputs with.
        ratio_cap: the official cap, 300.
        seed: with the `(epoch, index)` training keys, draws every crop and flip.
        clip_input: clip the amplified input at 1, as SID does; ALEN does not (docs/specs/alen.md §6.4).
        sample: `per_pair`, one item per list row; or `per_scene`, one item per ground truth that draws one of
            its short exposures at every access, as the official training loops do (an epoch is one pass over
            the scenes).

    Every file the dataset will read is checked when it is built. Keys `(epoch, index)` draw a fresh crop per
    epoch; a plain index gives a fixed one (evaluation).
    """

    def __init__(
        self,
        list_file: str | os.PathLike,
        crop_size: int | None = 512,
        augment: bool = True,
        cache_dir: str | os.PathLike | None = None,
        first_burst_only: bool = True,
        exclude_scenes: Sequence[int] = (),
        black: float | None = None,
        white: float | None = None,
        ratio_cap: float = SID_RATIO_CAP,
        seed: int = 0,
        clip_input: bool = True,
        sample: str = "per_pair",
    ):
        if sample not in SAMPLING:
            raise ValueError(f"sample must be one of {SAMPLING}, got {sample!r}")
        self.list_file = Path(list_file)
        self.root = self.list_file.parent
        excluded = set(exclude_scenes)
        self.entries: list[SidListEntry] = [
            e
            for e in read_sid_list(self.list_file)
            if int(e.short.name[:5]) not in excluded and (not first_burst_only or e.short.name[5:9] == "_00_")
        ]
        if not self.entries:
            raise ValueError(f"{self.list_file}: no pairs left after filtering")
        self.items = _group_by_target(self.entries) if sample == "per_scene" else [[e] for e in self.entries]
        self.crop_size, self.augment, self.seed = crop_size, augment, seed
        self.black, self.white, self.ratio_cap, self.clip_input = black, white, ratio_cap, clip_input
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.inputs_cached = self.cache_dir is not None and cache_holds_inputs(
            self.cache_dir, black, white, self.list_file
        )
        self._check_files_exist()

    def __len__(self) -> int:
        return len(self.items)

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
            advice = f"run {prepare_command(self.list_file, self.cache_dir, levels(self.black, self.white))}"
        else:
            advice = "check data.root and that the dataset is completely extracted"
        rows = [f"  {_describe_lines(lines)}: {path}" for path, lines in list(missing.items())[:_MAX_LISTED_MISSING]]
        if len(missing) > _MAX_LISTED_MISSING:
            rows.append(f"  ... and {len(missing) - _MAX_LISTED_MISSING} more")
        return f"{self.list_file}: {len(missing)} file(s) needed by its rows are missing; {advice}:\n" + "\n".join(rows)

    def _input(self, entry: SidListEntry) -> np.ndarray:
        if self.inputs_cached:
            return np.load(self._input_file(entry), mmap_mode="r")
        return load_packed(entry.short, self.black, self.white)

    def _target(self, entry: SidListEntry) -> np.ndarray:
        if self.cache_dir is None:
            return postprocess_ground_truth(entry.long)
        return np.load(self._target_file(entry), mmap_mode="r")

    def __getitem__(self, key: int | TrainingKey) -> dict:
        if isinstance(key, TrainingKey):
            index, rng = key.index, np.random.default_rng([self.seed, key.epoch, key.draw])
        else:
            index, rng = key, np.random.default_rng([self.seed, key])
        choices = self.items[index]
        # per_scene: a fresh short exposure of the scene at every access, as train_Sony.py's random in_files pick.
        entry = choices[int(rng.integers(len(choices)))] if len(choices) > 1 else choices[0]
        packed = self._input(entry)
        channels, h, w = packed.shape
        scale = 3 if channels == 9 else 2
        # Crop in h×w×C views so that only the patch is read from a memory map.
        low = np.moveaxis(packed, 0, -1)
        high = self._target(entry)[: h * scale, : w * scale]
        if self.crop_size is not None:
            if min(h, w) < self.crop_size:
                raise ValueError(f"{entry.short}: packed size {h}×{w} is smaller than crop_size {self.crop_size}")
            low, high = random_paired_crop(low, high, self.crop_size, rng, scale=scale)
        if self.augment:
            low, high = _flip_and_transpose(low, high, rng)

        low = np.asarray(low, dtype=np.float32)
        if packed.dtype == np.uint16:
            low = low / np.float32(PACKED_SCALE)
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
        crop_size: training crop side on the packed input, the network's input (official 512); the target
            crop is `upscale` times that (1024).
        eval_crop_size: None evaluates whole frames (the protocol); an int takes a fixed crop of each
            val/test pair (quick checks).
        cache_dir: the output of `lle-prepare-sid` (uint16 .npy, memory-mapped); None decodes RAW files on
            every access, which is fine for small data only.
        exclude_misaligned_test_scenes: drop scenes 10034, 10045, 10172 from the test split, as SID's README says.
        black, white: level overrides; with a cache, the levels `lle-prepare-sid` was run with.
        clip_input: clip the amplified input at 1 (SID); ALEN does not.
        sample: how training epochs are formed: `per_scene` (the official loops: one random short exposure of
            every ground truth) or `per_pair` (every list row). Evaluation always uses every pair.
    """

    def __init__(
        self,
        root: str,
        camera: str = "Sony",
        name: str = "sid",
        crop_size: int = 512,
        eval_crop_size: int | None = None,
        cache_dir: str | None = None,
        exclude_misaligned_test_scenes: bool = True,
        black: float | None = None,
        white: float | None = None,
        clip_input: bool = True,
        sample: str = "per_pair",
        **loader_args,
    ):
        super().__init__(**loader_args)
        self.root, self.camera, self.name = Path(root).expanduser(), camera, name
        self.crop_size, self.eval_crop_size, self.cache_dir = crop_size, eval_crop_size, cache_dir
        self.exclude_misaligned, self.sample = exclude_misaligned_test_scenes, sample
        self.item_args = {"black": black, "white": white, "clip_input": clip_input}

    def list_file(self, split: str) -> Path:
        path = self.root / f"{self.camera}_{split}_list.txt"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: data.root must hold the official list files "
                f"{self.camera}_train_list.txt, {self.camera}_val_list.txt and {self.camera}_test_list.txt "
                f"(rows like ./{self.camera}/short/00001_00_0.1s.ARW ./{self.camera}/long/00001_00_10s.ARW ISO200 F8)"
            )
        return path

    def _dataset(
        self, split: str, crop_size: int | None, augment: bool, exclude=(), sample: str = "per_pair"
    ) -> SIDDataset:
        return SIDDataset(
            self.list_file(split),
            crop_size=crop_size,
            augment=augment,
            cache_dir=self.cache_dir,
            exclude_scenes=exclude,
            seed=self.seed,
            sample=sample,
            **self.item_args,
        )

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            self.train_set = self._dataset("train", self.crop_size, augment=True, sample=self.sample)
            self.val_set = self._dataset("val", self.eval_crop_size, augment=False)
        if stage in (None, "test", "predict") and self.test_set is None:
            exclude = SID_MISALIGNED_SCENES if self.exclude_misaligned else ()
            self.test_set = self._dataset("test", self.eval_crop_size, augment=False, exclude=exclude)


def __getattr__(name: str):
    # Configs saved in old runs and checkpoints name `lle.data.sid.SyntheticRawDataModule`. It lives in
    # `lle.data.synthetic_raw`, which subclasses SIDDataModule and so imports this module: a plain import
    # here would be circular, hence the lookup on first access (PEP 562).
    if name == "SyntheticRawDataModule":
        from lle.data.synthetic_raw import SyntheticRawDataModule

        return SyntheticRawDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
