"""What every lle DataModule shares: loaders, samplers, and the description of the data.

Datasets return dicts `{"input": C×h×w float, "target": 3×H×W float, "name": str}` in [0, 1].
Training items are fetched with `TrainingKey`s (epoch, draw, index) from `EpochSampler`, evaluation items with
plain indices from `ShardedEvalSampler`.

Every DataModule names its crops the same way, for sRGB and RAW data alike:

* `crop_size`: side of the square training crops, in pixels of the network's input: of the image for sRGB
  data, of the packed mosaic for RAW data (SID's official 512 is a 512×512×4 packed crop). The target crop
  is `upscale` times that (1024×1024 for packed Bayer, ×3 for X-Trans, the same size for sRGB). None, where
  a DataModule allows it: whole images.
* `eval_crop_size`: None evaluates whole images (the protocol); an int takes the same crop of each
  validation/test image every time (a center crop of paired folders, a crop drawn from (seed, index) for the
  synthetic and SID data), for quick checks. Same units as `crop_size`.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset, default_collate

from lle.data.samplers import EpochSampler, ShardedEvalSampler
from lle.models.interface import INPUT_KINDS, SRGB


def collate_same_size(items: list[dict]) -> dict:
    """torch's default collation, after checking that the images of the batch have one size (whole evaluation
    images may not: torch's own error would name neither the images nor the option)."""
    sizes = {tuple(item["input"].shape) for item in items}
    if len(sizes) > 1:
        names = ", ".join(f"{item.get('name', '?')} {tuple(item['input'].shape[-2:])}" for item in items)
        raise ValueError(
            f"a batch holds images of different sizes ({names}): evaluate whole images with "
            "data.eval_batch_size=1, or crop them with data.eval_crop_size"
        )
    return default_collate(items)


class EnhancementDataModule(pl.LightningDataModule):
    """Base class. Subclasses implement `setup` and fill `train_set`, `val_set` and `test_set`.

    Args:
        batch_size: training batch size (per process).
        eval_batch_size: validation/test batch size; 1 lets images of different sizes through.
        num_workers: data-loading worker processes.
        samples_per_epoch: training samples per epoch; default: the training set size times
            `dataset_enlarge_ratio` (BasicSR's knob that keeps small datasets from making tiny epochs).
        seed: seed of the data order and of every random crop, flip and synthetic degradation.
        input_kind / in_channels / upscale: what the network receives (`srgb`, 3, 1 for sRGB pairs);
            model configs read them by interpolation to adapt (`${data.in_channels}`).
    """

    name = "data"

    def __init__(
        self,
        batch_size: int = 8,
        eval_batch_size: int = 1,
        num_workers: int = 0,
        samples_per_epoch: int | None = None,
        dataset_enlarge_ratio: int = 1,
        seed: int = 0,
        pin_memory: bool = False,
        input_kind: str = SRGB,
        in_channels: int = 3,
        upscale: int = 1,
        **unknown,
    ):
        super().__init__()
        if unknown:
            raise TypeError(_unknown_options_message(type(self).__name__, unknown))
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(
                f"data.batch_size and data.eval_batch_size must be >= 1, got {batch_size}, {eval_batch_size}"
            )
        if dataset_enlarge_ratio < 1:
            raise ValueError(f"data.dataset_enlarge_ratio must be >= 1, got {dataset_enlarge_ratio}")
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"data.input_kind must be one of {', '.join(INPUT_KINDS)}, got {input_kind!r}")
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.samples_per_epoch, self.dataset_enlarge_ratio, self.seed = samples_per_epoch, dataset_enlarge_ratio, seed
        self.pin_memory = pin_memory
        self.input_kind, self.in_channels, self.upscale = input_kind, in_channels, upscale
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _loader(self, dataset: Dataset, batch_size: int, sampler, drop_last: bool, kind=DataLoader) -> DataLoader:
        return kind(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate_same_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            drop_last=drop_last,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        num_samples = self.samples_per_epoch or len(self.train_set) * self.dataset_enlarge_ratio
        if num_samples < self.batch_size:
            raise ValueError(
                f"{num_samples} training samples per epoch cannot fill one batch of data.batch_size={self.batch_size}"
            )
        sampler = EpochSampler(len(self.train_set), num_samples, seed=self.seed)
        return self._loader(self.train_set, self.batch_size, sampler, drop_last=True, kind=ResumableLoader)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.eval_batch_size, ShardedEvalSampler(len(self.val_set)), False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.eval_batch_size, ShardedEvalSampler(len(self.test_set)), False)

    def describe(self) -> dict[str, Any]:
        """What the protocol records about the data (name, split sizes)."""
        sizes = {
            split: len(ds)
            for split, ds in (("train", self.train_set), ("val", self.val_set), ("test", self.test_set))
            if ds is not None
        }
        return {"data": self.name, "split_sizes": sizes, "input_kind": self.input_kind}


class ResumableLoader(DataLoader):
    """The training loader, resumable in the middle of an epoch: Lightning stores `state_dict()` (the epoch and the
    batches this rank has trained on) in a checkpoint saved mid-epoch (`lle.callbacks.preemption`) and hands it
    back on resume; the next iteration then skips those batches' keys in the sampler (they are never loaded), so
    a resumed epoch trains on exactly the batches the interrupted one had left."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._epoch, self._batches = 0, 0

    def __iter__(self):
        sampler = self.sampler
        if sampler.epoch != self._epoch:  # resumed at an epoch's end: the next epoch starts from its first batch
            sampler.skip = 0
        if not sampler.skip:
            self._epoch, self._batches = sampler.epoch, 0
        for batch in super().__iter__():
            self._batches += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "batches": self._batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._epoch, self._batches = int(state["epoch"]), int(state["batches"])
        self.sampler.epoch = self._epoch  # Lightning sets it again before the iteration: the same value
        self.sampler.skip = self._batches * self.batch_size


# Options that were renamed when sRGB and RAW data came to share one crop vocabulary (see the module docstring):
# a config written before then gets the new name in the error, not just "unexpected keyword".
RENAMED_OPTIONS = {"patch_size": "crop_size", "eval_patch_size": "eval_crop_size", "eval_crop": "eval_crop_size"}


def _unknown_options_message(owner: str, unknown: dict[str, Any]) -> str:
    names = ", ".join(
        f"data.{name}" + (f" (now data.{RENAMED_OPTIONS[name]})" if name in RENAMED_OPTIONS else "") for name in unknown
    )
    return f"{owner} got unknown options: {names}"
