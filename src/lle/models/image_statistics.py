"""Image-level context for tiled inference: the whole image's statistics, shared by its tiles.

A network that looks at the whole map somewhere (global average or max pooling in channel attention, a
global softmax, non-local attention keys, a global branch fed a downsample of the input) computes it through
the functions here: `spatial_mean`, `spatial_amax`, `softmax_pool`, `global_keys_values`, `whole_input` and
`resize_nearest_to_tile`. With no `ImageStatistics` active, which is the default and always the case while
exporting, each is the plain operation, so untiled outputs and traced graphs do not change.

`lle.inference.enhance_tiled` runs every tile inside `statistics.tile(...)`. There each call

* records the tile's contribution over the part of the image the tile *owns* (the tiles' owned parts
  partition the image, so the contributions add up to the whole image's statistic), and
* returns the whole-image value recorded in the previous pass over the tiles, or, in the first pass, the
  tile's own value.

A statistic depends on the statistics of earlier layers, so one pass is not enough: pass p replays the
statistics of pass p − 1, which makes the first p global layers (in depth) exact, and in practice the
statistics settle in two or three passes (`ImageStatistics.change` says by how much they still move).
Calls are identified by their order within one forward pass (the graph is static), so a module used twice
(MIRNet's shared DAUs) has two entries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import torch

_ACTIVE: ContextVar[ImageStatistics | None] = ContextVar("lle_image_statistics", default=None)


@dataclass(frozen=True)
class TileRegion:
    """Where a tile lies in the image and which part of it the tile owns (rows/cols in tile pixels)."""

    top: int
    left: int
    height: int
    width: int
    owned: tuple[int, int, int, int]  # row start, row end, col start, col end, within the tile


class _Mean:
    def __init__(self) -> None:
        self.total, self.count = None, 0

    def add(self, part: torch.Tensor) -> None:
        total = part.float().sum(dim=(-2, -1), keepdim=True)
        self.total = total if self.total is None else self.total + total
        self.count += part.shape[-2] * part.shape[-1]

    def value(self) -> torch.Tensor:
        return self.total / self.count


class _Max:
    def __init__(self) -> None:
        self.maximum = None

    def add(self, part: torch.Tensor) -> None:
        if part.numel():
            m = part.amax(dim=(-2, -1), keepdim=True)
            self.maximum = m if self.maximum is None else torch.maximum(self.maximum, m)

    def value(self) -> torch.Tensor:
        return self.maximum


class _SoftmaxPool:
    """Σₙ softmax(logits)ₙ · xₙ over the whole image, from per-tile sums shifted by their own maximum."""

    def __init__(self) -> None:
        self.maximum = self.weight = self.weighted = None

    def add(self, logits: torch.Tensor, x: torch.Tensor) -> None:
        if not logits.numel():
            return
        logits, x = logits.float().flatten(2), x.float().flatten(2)  # B×1×n, B×C×n
        m = logits.amax(dim=-1, keepdim=True)
        e = torch.exp(logits - m)
        weight, weighted = e.sum(dim=-1), (x * e).sum(dim=-1)  # B×1, B×C
        if self.maximum is None:
            self.maximum, self.weight, self.weighted = m, weight, weighted
            return
        top = torch.maximum(self.maximum, m)
        old, new = torch.exp(self.maximum - top)[..., 0], torch.exp(m - top)[..., 0]
        self.maximum = top
        self.weight = self.weight * old + weight * new
        self.weighted = self.weighted * old + weighted * new

    def value(self) -> torch.Tensor:
        return self.weighted / self.weight


class _KeySet:
    """Attention keys and values of the whole image: a set (softmax attention does not depend on their order)."""

    def __init__(self) -> None:
        self.keys, self.values = [], []

    def add(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.keys.append(keys.flatten(2))
        self.values.append(values.flatten(2))

    def value(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat(self.keys, dim=-1), torch.cat(self.values, dim=-1)


class _Canvas:
    """A map of the whole image assembled from the tiles' owned parts."""

    def __init__(self) -> None:
        self.canvas = None

    def add(self, part: torch.Tensor, top: int, left: int, size: tuple[int, int]) -> None:
        if self.canvas is None:
            self.canvas = part.new_zeros(*part.shape[:-2], *size)
        self.canvas[..., top : top + part.shape[-2], left : left + part.shape[-1]] = part

    def value(self) -> torch.Tensor:
        return self.canvas


class ImageStatistics:
    """The statistics of one image (or batch), gathered tile by tile over passes; see the module docstring.

    statistics = ImageStatistics((height, width))    # the size the tiles cover (enhance_tiled sets it)
    for each pass:
        statistics.begin_pass()
        for each tile:
            with statistics.tile(region):
                y = net(x_tile)
        statistics.end_pass()    # then `statistics.change`, `statistics.count`
    """

    def __init__(self, image_size: tuple[int, int] | None = None):
        self.image_size = None if image_size is None else tuple(image_size)
        self.previous: list | None = None  # whole-image values of the last finished pass
        self.recording: list = []
        self.change = float("inf")  # largest relative change of a statistic between the last two passes
        self.passes = 0  # passes finished
        self._region: TileRegion | None = None
        self._calls = 0

    @property
    def count(self) -> int:
        """Image-level statistics the network computed in the last pass (0: a purely local network)."""
        return len(self.previous or self.recording)

    def begin_pass(self) -> None:
        self.recording = []

    def end_pass(self) -> None:
        values = [accumulator.value() for accumulator in self.recording]
        self.passes += 1
        if self.previous is not None and len(self.previous) == len(values):
            self.change = max((_relative_change(new, old) for new, old in zip(values, self.previous)), default=0.0)
        self.previous = values

    @contextlib.contextmanager
    def tile(self, region: TileRegion) -> Iterator[None]:
        """Make these statistics the active ones for one forward pass over the tile at `region`."""
        token = _ACTIVE.set(self)
        self._region, self._calls = region, 0
        try:
            yield
        finally:
            _ACTIVE.reset(token)
            self._region = None

    # --- used by the functions below, inside a tile ---

    def _entry(self, kind: type) -> tuple[object, object | None]:
        """The accumulator of the current call (created in the first tile of a pass) and its previous value."""
        index = self._calls
        self._calls += 1
        if index == len(self.recording):
            self.recording.append(kind())
        previous = self.previous[index] if self.previous is not None and index < len(self.previous) else None
        return self.recording[index], previous

    def _scale(self, size: Sequence[int]) -> tuple[int, int, int, int, int, int]:
        """The tile's owned rows/cols and its offset, at the resolution of a map of `size` (rows, cols)."""
        r = self._region
        h, w = size
        r0, r1, c0, c1 = r.owned
        rows = (r0 * h // r.height, h if r1 >= r.height else r1 * h // r.height)
        cols = (c0 * w // r.width, w if c1 >= r.width else c1 * w // r.width)
        return (*rows, *cols, r.top * h // r.height, r.left * w // r.width)

    def _owned(self, x: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
        r0, r1, c0, c1, _, _ = self._scale((like if like is not None else x).shape[-2:])
        return x[..., r0:r1, c0:c1]

    def _whole_size(self, size: Sequence[int]) -> tuple[int, int]:
        r = self._region
        return self.image_size[0] * size[0] // r.height, self.image_size[1] * size[1] // r.width


def _relative_change(new, old) -> float:
    if isinstance(new, tuple):
        if new[0].shape != old[0].shape:
            return float("inf")
        return max(_relative_change(n, o) for n, o in zip(new, old))
    if new.shape != old.shape:
        return float("inf")
    return float((new - old).abs().max() / old.abs().max().clamp(min=1e-12))


def active_statistics() -> ImageStatistics | None:
    """The statistics of the image being tiled, or None outside tiled inference."""
    return _ACTIVE.get()


def spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling `x.mean(dim=(-2, -1), keepdim=True)`, over the whole image when tiled."""
    return _pooled(x, _Mean, lambda t: t.mean(dim=(-2, -1), keepdim=True))


def spatial_amax(x: torch.Tensor) -> torch.Tensor:
    """Global max pooling `x.amax(dim=(-2, -1), keepdim=True)`, over the whole image when tiled."""
    return _pooled(x, _Max, lambda t: t.amax(dim=(-2, -1), keepdim=True))


def _pooled(x: torch.Tensor, accumulator_kind: type, pool) -> torch.Tensor:
    # Untiled: the plain pooling. Tiled: this tile's owned part joins the accumulator, and the whole image's value
    # from the previous pass (or, in the first pass, the tile's own) is returned.
    statistics = _ACTIVE.get()
    if statistics is None:
        return pool(x)
    accumulator, previous = statistics._entry(accumulator_kind)
    accumulator.add(statistics._owned(x))
    return (pool(x) if previous is None else previous).to(x.dtype)


def softmax_pool(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Σₙ softmax(logits over all positions)ₙ · xₙ for B×1×H×W `logits` and B×C×H×W `x`: B×C (GCNet's context)."""
    statistics = _ACTIVE.get()
    if statistics is None:
        attention = torch.softmax(logits.flatten(2), dim=-1)  # B × 1 × HW
        return torch.einsum("bcn,bon->bc", x.flatten(2), attention)
    accumulator, previous = statistics._entry(_SoftmaxPool)
    accumulator.add(statistics._owned(logits), statistics._owned(x))
    if previous is None:
        return torch.einsum("bcn,bon->bc", x.flatten(2), torch.softmax(logits.flatten(2), dim=-1))
    return previous.to(x.dtype)


def global_keys_values(keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-local attention's B×C×h×w key and value maps flattened to B×C×M, those of the whole image when tiled."""
    statistics = _ACTIVE.get()
    if statistics is None:
        return keys.flatten(2), values.flatten(2)
    accumulator, previous = statistics._entry(_KeySet)
    accumulator.add(statistics._owned(keys), statistics._owned(values))
    if previous is None:
        return keys.flatten(2), values.flatten(2)
    return previous[0].to(keys.dtype), previous[1].to(values.dtype)


def whole_input(x: torch.Tensor) -> torch.Tensor:
    """`x` itself, or, when tiled, the map of the whole image that `x` is a tile of (for a global branch).

    The first pass assembles the map from the tiles and returns the tile; later passes return the whole map.
    """
    statistics = _ACTIVE.get()
    if statistics is None:
        return x
    accumulator, previous = statistics._entry(_Canvas)
    r0, r1, c0, c1, top, left = statistics._scale(x.shape[-2:])
    accumulator.add(x[..., r0:r1, c0:c1], top + r0, left + c0, statistics._whole_size(x.shape[-2:]))
    return x if previous is None else previous.to(x.device, x.dtype)


def resize_nearest_to_tile(h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`h` resized (nearest) to the size of `x`; when tiled, the tile `x` of `h` resized to the whole image.

    The counterpart of `whole_input`: a global map computed from the whole image, brought back to this tile.
    Indices are PyTorch's (floor(dst · in/out) in float32), so the crop equals the crop of the whole resize.
    """
    from lle.models.blocks import resize_nearest

    statistics = _ACTIVE.get()
    if statistics is None or statistics.previous is None:
        return resize_nearest(h, x.shape[-2:])
    _, _, _, _, top, left = statistics._scale(x.shape[-2:])
    whole = statistics._whole_size(x.shape[-2:])
    for dim, start, length, out in ((-2, top, x.shape[-2], whole[0]), (-1, left, x.shape[-1], whole[1])):
        source = h.shape[dim]
        index = (torch.arange(out, dtype=torch.float32, device=h.device) * (source / out)).floor().long()
        h = h.index_select(dim, index.clamp(max=source - 1)[start : start + length])
    return h


def partition(starts: Sequence[int], tile: int, size: int) -> list[tuple[int, int]]:
    """The part of each tile (tile coordinates) that it owns: overlaps are split at their middle."""
    owned = []
    for i, start in enumerate(starts):
        low = 0 if i == 0 else (start + starts[i - 1] + tile) // 2 - start
        high = min(tile, size - start) if i == len(starts) - 1 else (starts[i + 1] + start + tile) // 2 - start
        owned.append((low, high))
    return owned


__all__ = [
    "ImageStatistics",
    "TileRegion",
    "active_statistics",
    "global_keys_values",
    "partition",
    "resize_nearest_to_tile",
    "softmax_pool",
    "spatial_amax",
    "spatial_mean",
    "whole_input",
]
