"""Paired augmentations applied to a whole batch on the device, after collation.

Each transform is a callable `transform(batch, epoch=None) -> batch` on a batch dict
`{"input": B×C×H×W, "target": B×3×H×W, ...}`: every tensor named in `keys` receives the same random
transformation, other entries pass through. The input dict is not modified. Randomness comes from torch's
global generator, so `lightning.seed_everything` makes it reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Batch = dict[str, object]


class MixUp:
    """Convex combinations of pairs within the batch (Zhang et al. 2018), as in the MIRNet training code.

    out = λ·x + (1−λ)·x[perm] for input and target with the same λ and the same permutation, λ ~ Beta(α, α).

    Args:
        alpha: Beta parameter; MIRNet and MIRNet-v2 use 1.2.
        start_epoch: first (0-based) epoch to mix; earlier epochs pass through. MIRNet mixes from its 6th
            epoch (`if epoch > 5` with epochs counted from 1), i.e. `start_epoch=5`.
        per_sample: one λ per sample, as in MIRNet's `MixUp_AUG`; False draws one λ per batch, as MIRNet-v2's
            BasicSR `Mixing_Augment` does.
        p: probability of mixing a batch. MIRNet-v2 (`use_identity: true`) picks between MixUp and the
            identity, i.e. p = 0.5.
        keys: the batch entries that are mixed.
    """

    def __init__(
        self,
        alpha: float = 1.2,
        start_epoch: int = 0,
        per_sample: bool = True,
        p: float = 1.0,
        keys: Sequence[str] = ("input", "target"),
    ):
        self.beta = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))
        self.start_epoch, self.per_sample, self.p, self.keys = start_epoch, per_sample, p, tuple(keys)

    def __call__(self, batch: Batch, epoch: int | None = None) -> Batch:
        if epoch is not None and epoch < self.start_epoch:
            return batch
        if self.p < 1.0 and torch.rand(()).item() >= self.p:
            return batch
        first = batch[self.keys[0]]
        n = first.shape[0]
        perm = torch.randperm(n, device=first.device)
        lam = self.beta.sample((n,) if self.per_sample else (1,)).to(first.device)
        out = dict(batch)
        for key in self.keys:
            x = batch[key]
            weight = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
            out[key] = weight * x + (1 - weight) * x[perm]
        return out


def dihedral(x: torch.Tensor, index: int) -> torch.Tensor:
    """The `index`-th (0–7) element of the dihedral group on the last two axes: rot90 `index % 4` times
    (as `torch.rot90(x, k, dims=[-1, -2])` in MIRNet's `Augment_RGB_torch`), then a vertical flip if index ≥ 4.
    """
    x = torch.rot90(x, index % 4, dims=(-1, -2))
    return x.flip(-2) if index >= 4 else x


class Dihedral:
    """A random flip / 90° rotation (8 equally likely), the same for input and target of a pair.

    Args:
        per_sample: an independent transform per sample, as MIRNet's dataset draws one per image
            (`transforms_aug[random.getrandbits(3)]`); this needs square patches when a rotation swaps H
            and W. False applies one transform to the whole batch (any H×W).
        keys: the batch entries that are transformed.
    """

    def __init__(self, per_sample: bool = True, keys: Sequence[str] = ("input", "target")):
        self.per_sample, self.keys = per_sample, tuple(keys)

    def __call__(self, batch: Batch, epoch: int | None = None) -> Batch:
        first = batch[self.keys[0]]
        out = dict(batch)
        if not self.per_sample:
            index = int(torch.randint(8, ()).item())
            for key in self.keys:
                out[key] = dihedral(batch[key], index)
            return out
        for key in self.keys:
            if batch[key].shape[-2] != batch[key].shape[-1]:
                raise ValueError(
                    f"per-sample rotations need square patches, {key!r} is "
                    f"{batch[key].shape[-2]}×{batch[key].shape[-1]}; use per_sample=False"
                )
        choice = torch.randint(8, (first.shape[0],), device=first.device)
        for key in self.keys:
            x = batch[key]
            y = torch.empty_like(x)
            for index in range(8):  # 8 grouped ops, not one per sample
                chosen = choice == index
                y[chosen] = dihedral(x[chosen], index)
            out[key] = y
        return out
