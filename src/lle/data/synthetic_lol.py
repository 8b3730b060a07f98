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
from lle.data.calibration import LUMINANCE_WEIGHTS, linear_to_srgb, srgb_to_linear
from lle.data.io import to_float_tensor
from lle.data.samplers import TrainingKey
from lle.data.synthetic import SCENES, SEED_NAMES, make_lol_pair, photo_distribution, seed_images

_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def _crop(image: np.ndarray, size: int | None, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """A random `size`×`size` crop of `image` after shrinking it by `scale` (≤ 1): the crop then covers
    1/scale² as much of the scene, as a whole photograph seen by a network does. None: the whole image."""
    if size is None:
        return image
    h, w = image.shape[:2]
    side = min(h, w, max(size, round(size / scale)))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = image[top : top + side, left : left + side]
    if side == size:
        return crop
    from PIL import Image

    return np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0))


class SyntheticPairs(Dataset):
    """`num_samples` synthetic pairs from `photos`.

    Training keys (`TrainingKey`) draw a fresh crop, zoom, flip/rotation and degradation; evaluation indices
    draw from (seed, split, index) so the same sample comes back every time. `degradation` holds the keyword
    arguments of `make_lol_pair` (ranges of exposure, noise, colour cast, JPEG).
    """

    def __init__(
        self,
        photos: dict[str, np.ndarray],
        split: str,
        num_samples: int,
        crop_size: int | None,
        degradation: dict,
        seed: int,
        scale_range: Sequence[float] = (1.0, 1.0),
        reference_exposure: float | None = None,
        permute_colours: bool = False,
    ):
        self.names, self.photos = list(photos), list(photos.values())
        self.reference_exposure, self.permute_colours = reference_exposure, permute_colours
        self.split, self.num_samples, self.crop_size = split, num_samples, crop_size
        self.degradation, self.seed, self.scale_range = degradation, seed, tuple(scale_range)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, key):
        if isinstance(key, TrainingKey):
            index = key.index
            rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], key.epoch, key.draw])
        else:
            index = key
            rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], index])
        photo = index % len(self.photos)
        scale = float(np.exp(rng.uniform(np.log(self.scale_range[0]), np.log(self.scale_range[1]))))
        clean = _crop(self.photos[photo], self.crop_size, rng, scale)
        if self.split == "train":
            clean = dihedral(clean, int(rng.integers(0, 8)))
            if self.permute_colours:  # a scene of other colours: every hue is seen, not only the photographs'
                clean = clean[..., rng.permutation(3)]
            clean = np.ascontiguousarray(clean)
        low, high = make_lol_pair(clean, rng, **self.degradation)
        if self.reference_exposure is not None:
            high = reexpose(high, self.reference_exposure)
        return {
            "input": to_float_tensor(low),
            "target": to_float_tensor(high),
            "name": f"{self.split}_{self.names[photo]}_{index:04d}",
        }


def reexpose(image: np.ndarray, exposure: float, steps: int = 4) -> np.ndarray:
    """`image` (H×W×3 uint8 sRGB) scaled in linear light to mean luminance `exposure` after clipping at white:
    the reference a network with exposure normalisation (lle.models.exposure) is trained to return. Clipped
    highlights lose luminance, so the gain is refined a few times until the clipped image has that mean."""
    linear = srgb_to_linear(image / 255.0)
    gain = 1.0
    for _ in range(steps):
        gain *= exposure / max(float((np.minimum(linear * gain, 1.0) @ LUMINANCE_WEIGHTS).mean()), 1e-4)
    return np.round(np.clip(linear_to_srgb(linear * gain), 0.0, 1.0) * 255.0).astype(np.uint8)


class SyntheticLowLightDataModule(EnhancementDataModule):
    """Synthetic LOL-like pairs from the photographs of `lle.data.synthetic.seed_images()`, split by scene.

    Args:
        train_images / val_images / test_images: photograph names. `train_images=None`: every installed
            photograph whose scene is in neither evaluation split.
        crop_size: side of the training crops (the input and the target are the same size).
        scale_range: each training crop is taken after shrinking its photograph by a factor log-uniform in
            this range ([1, 1]: native resolution), so small crops still show whole objects.
        eval_crop_size: side of the val/test crops, drawn from (seed, split, index) so each sample is the
            same every time; None: whole photographs. Both must be even (the unprocessing's Bayer mosaic).
        num_val / num_test: evaluation samples; sample i is photograph i mod n with its own degradation.
        ratio_range, shot_range, red_cast_range, blue_cast_range, black_range, jpeg_quality_range,
            jpeg_probability, noise_after_demosaic: the degradation (`lle.data.synthetic.make_lol_pair`).
        reference_exposure: training references re-exposed to this mean linear luminance (the exposure a
            network normalises its input to, `lle.models.exposure`); None: as photographed. Validation and test
            references are never changed.
        permute_colours: each training crop's RGB channels are put in a random order before it is degraded: the
            few embedded training photographs hold few hues (no saturated green or magenta), and a network that
            never saw a hue renders it as one it knows (greens came out blue on real captures).
    """

    name = "synthetic"

    def __init__(
        self,
        train_images: Sequence[str] | None = None,
        val_images: Sequence[str] = ("chelsea", "flower"),
        test_images: Sequence[str] = ("coffee", "motorcycle_left", "motorcycle_right"),
        crop_size: int = 128,
        scale_range: Sequence[float] = (1.0, 1.0),
        num_val: int = 4,
        num_test: int = 8,
        eval_crop_size: int | None = 256,
        ratio_range: Sequence[float] = (5, 50),
        shot_range: Sequence[float] = (1e-4, 0.012),
        red_cast_range: Sequence[float] = (1.0, 1.0),
        blue_cast_range: Sequence[float] = (1.0, 1.0),
        black_range: Sequence[float] = (0.0, 0.0),
        jpeg_quality_range: Sequence[int] | None = None,
        jpeg_probability: float = 0.0,
        noise_after_demosaic: bool = False,
        reference_exposure: float | None = None,
        permute_colours: bool = False,
        samples_per_epoch: int | None = 64,
        **loader_args,
    ):
        super().__init__(samples_per_epoch=samples_per_epoch, **loader_args)
        if not 0.0 <= jpeg_probability <= 1.0:
            raise ValueError(f"data.jpeg_probability must be in [0, 1], got {jpeg_probability}")
        if jpeg_quality_range is not None and not 1 <= jpeg_quality_range[0] <= jpeg_quality_range[1] <= 95:
            raise ValueError(f"data.jpeg_quality_range must lie within [1, 95], got {list(jpeg_quality_range)}")
        for option, bounds in (
            ("scale_range", scale_range),
            ("red_cast_range", red_cast_range),
            ("blue_cast_range", blue_cast_range),
        ):
            if not 0 < bounds[0] <= bounds[1]:
                raise ValueError(f"data.{option} must be positive [low, high], got {list(bounds)}")
        if not 0 <= black_range[0] <= black_range[1] < 1:
            raise ValueError(f"data.black_range is a fraction of the dark signal in [0, 1), got {list(black_range)}")
        if reference_exposure is not None and not 0 < reference_exposure < 1:
            raise ValueError(f"data.reference_exposure is a mean linear luminance in (0, 1), got {reference_exposure}")
        self.reference_exposure, self.permute_colours = reference_exposure, bool(permute_colours)
        if scale_range[1] > 1:
            raise ValueError(f"data.scale_range shrinks photographs: its values must be ≤ 1, got {list(scale_range)}")
        self.splits = {"val": list(val_images), "test": list(test_images)}
        self.splits["train"] = _training_photographs(train_images, self.splits)
        self.crop_size, self.eval_crop_size, self.scale_range = crop_size, eval_crop_size, scale_range
        self.num_val, self.num_test = num_val, num_test
        self.degradation = dict(
            ratio_range=tuple(ratio_range),
            shot_range=tuple(shot_range),
            red_cast_range=tuple(red_cast_range),
            blue_cast_range=tuple(blue_cast_range),
            black_range=tuple(black_range),
            jpeg_quality_range=None if jpeg_quality_range is None else tuple(jpeg_quality_range),
            jpeg_probability=jpeg_probability,
            noise_after_demosaic=bool(noise_after_demosaic),
        )

    def _pairs(self, split: str, num_samples: int, crop: int | None, option: str, **kwargs) -> SyntheticPairs:
        available = seed_images()
        unknown = [n for n in self.splits[split] if n not in available]
        if unknown:
            installed = ", ".join(sorted(available))
            missing = ", ".join(f"{n} ({_where(n)})" for n in unknown)
            raise ValueError(f"data.{split}_images: {missing} not available; installed photographs: {installed}")
        if not self.splits[split]:
            raise ValueError(f"data.{split}_images is empty: the {split} split needs at least one photograph")
        photos = {n: available[n] for n in self.splits[split]}
        smallest = min(min(p.shape[:2]) for p in photos.values())
        if crop is not None and (crop > smallest or crop % 2):
            raise ValueError(
                f"data.{option}={crop} must be even and at most {smallest}, the shorter side of the "
                f"smallest {split} photograph"
            )
        return SyntheticPairs(photos, split, num_samples, crop, self.degradation, self.seed, **kwargs)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            # The length of the training set is the number of photographs; samples_per_epoch sets the epoch.
            self.train_set = self._pairs(
                "train",
                len(self.splits["train"]),
                self.crop_size,
                "crop_size",
                scale_range=self.scale_range,
                reference_exposure=self.reference_exposure,
                permute_colours=self.permute_colours,
            )
            self.val_set = self._pairs("val", self.num_val, self.eval_crop_size, "eval_crop_size")
        if stage in (None, "test", "predict") and self.test_set is None:
            self.test_set = self._pairs("test", self.num_test, self.eval_crop_size, "eval_crop_size")

    def describe(self) -> dict:
        """Split sizes in samples (a training epoch's for train), and the scenes and photographs behind them."""
        description = super().describe()
        if "train" in description["split_sizes"]:
            description["split_sizes"]["train"] = self.samples_per_epoch or len(self.train_set)
        description["split_unit"] = "samples (train: per epoch, fresh each epoch; val/test: fixed)"
        description["scenes"] = {split: sorted({SCENES[n] for n in names}) for split, names in self.splits.items()}
        description["photographs"] = {split: list(names) for split, names in self.splits.items()}
        return description


def _training_photographs(train_images: Sequence[str] | None, evaluation: dict[str, list[str]]) -> list[str]:
    """The training photographs, checked to share no scene with validation or test."""
    for names in evaluation.values():
        unknown = [n for n in names if n not in SCENES]
        if unknown:
            raise ValueError(f"data: unknown seed photographs {unknown}; known: {', '.join(SCENES)}")
    shared = sorted({SCENES[n] for n in evaluation["val"]} & {SCENES[n] for n in evaluation["test"]})
    if shared:
        raise ValueError(f"data: scenes {shared} are in both the validation and the test split")
    held_out = {SCENES[n] for names in evaluation.values() for n in names}
    if train_images is None:
        available = seed_images()
        return [n for n in SEED_NAMES if n in available and SCENES[n] not in held_out]
    unknown = [n for n in train_images if n not in SCENES]
    if unknown:
        raise ValueError(f"data: unknown seed photographs {unknown}; known: {', '.join(SCENES)}")
    overlap = sorted({SCENES[n] for n in train_images} & held_out)
    if overlap:
        raise ValueError(
            f"data: scenes {overlap} are in the training and an evaluation split; the synthetic split is by scene"
        )
    return list(train_images)


def _where(name: str) -> str:
    return f"ships with {photo_distribution(name)}"
