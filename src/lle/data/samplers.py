"""Samplers that make data order a pure function of (seed, epoch) and split data across DDP ranks.

Lightning's own distributed sampler pads the last batch with duplicated samples, which biases
validation and test metrics; these samplers never duplicate. The trainer configs therefore set
`use_distributed_sampler: false`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class TrainingKey(NamedTuple):
    """What a training dataset is asked for: item `index`, as the epoch's sample number `draw`.

    The dataset seeds its randomness (crop, flip, synthetic degradation) from (epoch, draw), never from the
    index: an epoch longer than the dataset reads each item several times, and every reading is a new sample.
    """

    epoch: int
    draw: int  # 0 … num_samples − 1, unique within the epoch
    index: int  # draw modulo the dataset's length


class EpochSampler(Sampler):
    """Yields `TrainingKey`s for training: the dataset derives its augmentation randomness from the key, so a
    run's data (order, crops, synthetic degradations) depends only on seed and epoch.

    `num_samples` may exceed the dataset length (`dataset_enlarge_ratio`, or the synthetic data's few
    photographs): indices wrap around, draws do not. Each rank takes every world_size-th key of the same
    permutation.
    """

    def __init__(self, dataset_length: int, num_samples: int, seed: int = 0, shuffle: bool = True):
        self.dataset_length, self.num_samples, self.seed, self.shuffle = dataset_length, num_samples, seed, shuffle
        self.epoch = 0
        self.skip = 0  # keys of this rank to leave out once, at the start of the next iteration (a mid-epoch resume)

    def set_epoch(self, epoch: int) -> None:  # called by Lightning at the start of every epoch
        self.epoch = epoch

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_samples))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.num_samples, generator=generator).tolist()

    def __iter__(self):
        rank, world = _rank_and_world()
        skip, self.skip = self.skip, 0
        for draw in self._order()[rank::world][skip:]:
            yield TrainingKey(self.epoch, draw, draw % self.dataset_length)

    def __len__(self) -> int:
        rank, world = _rank_and_world()
        return len(range(rank, self.num_samples, world))


class ShardedEvalSampler(Sampler):
    """Evaluation order 0..n-1, rank r taking r, r+world, …: every sample exactly once over all ranks."""

    def __init__(self, dataset_length: int):
        self.dataset_length = dataset_length

    def __iter__(self):
        rank, world = _rank_and_world()
        return iter(range(rank, self.dataset_length, world))

    def __len__(self) -> int:
        rank, world = _rank_and_world()
        return len(range(rank, self.dataset_length, world))
