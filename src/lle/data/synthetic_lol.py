"""The embedded default data: LOL-like pairs synthesised from photographs that ship with scikit-image.

Nothing is downloaded. Training samples are random crops of the training photographs with fresh
random degradations every epoch (drawn from (seed, epoch, index)); validation and test samples are
fixed crops and degradations of photographs never seen in training (a scene-level split).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset

from lle.data.augment import dihedral
from lle.data.base import EnhancementDataModule
from lle.data.io import to_float_tensor
from lle.data.synthetic import make_lol_pair, seed_images

_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def _crop(image: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    if size is None:
        return image
    h, w = image.shape[:2]
    top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return image[top : top + size, left : left + size]


class SyntheticPairs(Dataset):
    """`num_samples` synthetic pairs from `photos`.

    Training keys `(epoch, index)` draw a fresh crop, flip/rotation and degradation; evaluation indices
    draw from (seed, split, index) so the same sample comes back every time.
    """

    def __init__(
        self,
        photos: dict[str, np.ndarray],
        split: str,
        num_samples: int,
        crop_size: int | None,
        ratio_range: Sequence[float],
        shot_range: Sequence[float],
        seed: int,
    ):
        self.names, self.photos = list(photos), list(photos.values())
        self.split, self.num_samples, self.crop_size = split, num_samples, crop_size
        self.ratio_range, self.shot_range, self.seed = tuple(ratio_range), tuple(shot_range), seed

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, key):
        if isinstance(key, tuple):
            epoch, index = key
            rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], epoch, index])
        else:
            index = key
            rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], index])
        photo = index % len(self.photos)
        clean = _crop(self.photos[photo], self.crop_size, rng)
        if self.split == "train":
            clean = np.ascontiguousarray(dihedral(clean, int(rng.integers(0, 8))))
        low, high = make_lol_pair(clean, rng, ratio_range=self.ratio_range, shot_range=self.shot_range)
        return {
            "input": to_float_tensor(low),
            "target": to_float_tensor(high),
            "name": f"{self.split}_{self.names[photo]}_{index:04d}",
        }


class SyntheticLowLightDataModule(EnhancementDataModule):
    """Synthetic LOL-like pairs; photograph names are those of `lle.data.synthetic.seed_images()`.

    Args:
        crop_size: side of the training crops (the input and the target are the same size).
        eval_crop_size: side of the val/test crops, drawn from (seed, split, index) so each sample is the
            same every time; None: whole photographs. Both must be even (the unprocessing's Bayer mosaic).
    """

    name = "synthetic"

    def __init__(
        self,
        train_images: Sequence[str] = ("astronaut", "rocket", "motorcycle_left", "motorcycle_right"),
        val_images: Sequence[str] = ("chelsea",),
        test_images: Sequence[str] = ("coffee",),
        crop_size: int = 128,
        num_val: int = 4,
        num_test: int = 8,
        eval_crop_size: int | None = 256,
        ratio_range: Sequence[float] = (5, 50),
        shot_range: Sequence[float] = (1e-4, 0.012),
        samples_per_epoch: int | None = 64,
        **loader_args,
    ):
        super().__init__(samples_per_epoch=samples_per_epoch, **loader_args)
        overlap = set(train_images) & (set(val_images) | set(test_images))
        if overlap:
            raise ValueError(
                f"data: photographs {sorted(overlap)} are in the training and an evaluation split; "
                "the synthetic split is by scene"
            )
        self.splits = {"train": list(train_images), "val": list(val_images), "test": list(test_images)}
        self.crop_size, self.eval_crop_size = crop_size, eval_crop_size
        self.num_val, self.num_test = num_val, num_test
        self.ratio_range, self.shot_range = ratio_range, shot_range

    def _pairs(self, split: str, num_samples: int, crop: int | None, option: str) -> SyntheticPairs:
        available = seed_images()
        unknown = [n for n in self.splits[split] if n not in available]
        if unknown:
            raise ValueError(f"data: unknown seed photographs {unknown}; available: {', '.join(sorted(available))}")
        photos = {n: available[n] for n in self.splits[split]}
        smallest = min(min(p.shape[:2]) for p in photos.values())
        if crop is not None and (crop > smallest or crop % 2):
            raise ValueError(
                f"data.{option}={crop} must be even and at most {smallest}, the shorter side of the "
                f"smallest {split} photograph"
            )
        return SyntheticPairs(photos, split, num_samples, crop, self.ratio_range, self.shot_range, self.seed)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            # The length of the training set is the number of photographs; samples_per_epoch sets the epoch.
            self.train_set = self._pairs("train", len(self.splits["train"]), self.crop_size, "crop_size")
            self.val_set = self._pairs("val", self.num_val, self.eval_crop_size, "eval_crop_size")
        if stage in (None, "test", "predict") and self.test_set is None:
            self.test_set = self._pairs("test", self.num_test, self.eval_crop_size, "eval_crop_size")
