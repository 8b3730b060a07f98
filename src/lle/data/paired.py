"""Paired low/normal-light folders: LOL v1, LOL-v2 (real, synthetic) and any `{low,high}` folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from lle.data.augment import random_dihedral, random_paired_crop
from lle.data.base import EnhancementDataModule
from lle.data.io import read_image, to_float_tensor
from lle.data.pairing import ImagePair, pair_folders
from lle.data.samplers import TrainingKey

SPLIT_KEYS = ("train_low", "train_high", "test_low", "test_high")


class PairedImageDataset(Dataset):
    """Decoded image pairs, cached in RAM as uint8/uint16 (LOL v1 train ≈ 0.7 GB).

    Training keys (`TrainingKey`) get a random `crop_size` crop and one of the 8 flips/rotations, both
    drawn from a generator seeded by (seed, epoch, draw); evaluation indices return the full images, or
    their center `eval_crop_size` crop.
    """

    def __init__(
        self, pairs: Sequence[ImagePair], crop_size: int | None = None, seed: int = 0, eval_crop_size: int | None = None
    ):
        self.pairs, self.crop_size, self.eval_crop_size, self.seed = list(pairs), crop_size, eval_crop_size, seed
        self.images = [self._load(pair) for pair in self.pairs]

    def _load(self, pair: ImagePair) -> tuple[np.ndarray, np.ndarray]:
        low, high = read_image(pair.low), read_image(pair.high)
        if low.shape != high.shape:
            raise ValueError(
                f"size mismatch: {pair.low} is {low.shape[1]}x{low.shape[0]} but "
                f"{pair.high} is {high.shape[1]}x{high.shape[0]}"
            )
        for option, size in (("crop_size", self.crop_size), ("eval_crop_size", self.eval_crop_size)):
            if size and min(low.shape[:2]) < size:
                raise ValueError(
                    f"{pair.low} is {low.shape[1]}x{low.shape[0]}, smaller than data.{option}="
                    f"{size}; lower the crop size or remove the image"
                )
        return low, high

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key):
        if isinstance(key, TrainingKey):
            index = key.index
            low, high = self.images[index]
            rng = np.random.default_rng([self.seed, key.epoch, key.draw])
            if self.crop_size:
                low, high = random_paired_crop(low, high, self.crop_size, rng)
            low, high = random_dihedral(low, high, rng)
        else:
            index = key
            low, high = self.images[index]
            if self.eval_crop_size:
                low, high = _center_crop(low, self.eval_crop_size), _center_crop(high, self.eval_crop_size)
        return {"input": to_float_tensor(low), "target": to_float_tensor(high), "name": self.pairs[index].name}


def _center_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


class PairedImageDataModule(EnhancementDataModule):
    """Pairs from folders, with the validation split carved out of the training pairs.

    The folders come either from `layouts` (relative to `root`; the first layout whose folders all
    exist is used, so one preset accepts e.g. both the original LOL layout and Retinexformer's), or
    from explicit `train_low`/`train_high`/`test_low`/`test_high` paths.

    Args:
        num_val: training pairs held out for validation and checkpoint selection (never the test split).
        crop_size: side of the random training crops (None: whole images, which must share one size).
        eval_crop_size: None evaluates whole images (the protocol); an int takes the center crop of each
            val/test pair (quick checks, or evaluation batches of images of different sizes).
    """

    def __init__(
        self,
        root: str | None = None,
        layouts: Sequence[dict] | None = None,
        train_low: str | None = None,
        train_high: str | None = None,
        test_low: str | None = None,
        test_high: str | None = None,
        name: str = "folders",
        num_val: int = 15,
        crop_size: int | None = 256,
        eval_crop_size: int | None = None,
        **loader_args,
    ):
        super().__init__(**loader_args)
        self.name, self.num_val, self.crop_size, self.eval_crop_size = name, num_val, crop_size, eval_crop_size
        explicit = dict(train_low=train_low, train_high=train_high, test_low=test_low, test_high=test_high)
        self.folders = self._resolve_folders(root, layouts, explicit)

    @staticmethod
    def _resolve_folders(root, layouts, explicit) -> dict[str, Path]:
        if any(explicit.values()):
            missing = [k for k, v in explicit.items() if not v]
            if missing:
                raise ValueError(f"data: set all of {', '.join(SPLIT_KEYS)}; missing {', '.join(missing)}")
            folders = {k: Path(v).expanduser() for k, v in explicit.items()}
            absent = [f"{k}={p}" for k, p in folders.items() if not p.is_dir()]
            if absent:
                raise FileNotFoundError(f"data: these folders do not exist: {', '.join(absent)}")
            return folders
        if root is None or not layouts:
            raise ValueError(
                "data: set data.root (with a layout preset such as data=lol) or the four folders "
                f"{', '.join('data.' + k for k in SPLIT_KEYS)}"
            )
        root = Path(root).expanduser()
        for layout in layouts:
            folders = {k: root / layout[k] for k in SPLIT_KEYS}
            if all(p.is_dir() for p in folders.values()):
                return folders
        expected = "\n".join("  " + ", ".join(f"{k}: {root / layout[k]}" for k in SPLIT_KEYS) for layout in layouts)
        raise FileNotFoundError(
            f"data.root={root} does not hold the expected folders; one of these layouts is needed:\n{expected}"
        )

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            train_pairs = pair_folders(self.folders["train_low"], self.folders["train_high"])
            if not 0 < self.num_val < len(train_pairs):
                raise ValueError(
                    f"data.num_val={self.num_val} must be between 1 and the {len(train_pairs)} "
                    f"training pairs minus one (validation is carved out of the training pairs)"
                )
            order = np.random.default_rng(self.seed).permutation(len(train_pairs))
            val_pairs = [train_pairs[i] for i in sorted(order[: self.num_val])]
            fit_pairs = [train_pairs[i] for i in sorted(order[self.num_val :])]
            self.train_set = PairedImageDataset(fit_pairs, self.crop_size, seed=self.seed)
            self.val_set = PairedImageDataset(val_pairs, eval_crop_size=self.eval_crop_size)
        if stage in (None, "test", "predict") and self.test_set is None:
            test_pairs = pair_folders(self.folders["test_low"], self.folders["test_high"])
            self.test_set = PairedImageDataset(test_pairs, eval_crop_size=self.eval_crop_size)
