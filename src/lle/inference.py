"""Use trained networks: load a checkpoint, enhance images of any size.

    model = load_model("logs/train/runs/<run>/checkpoints/best.ckpt")       # or "official:mirnet:<file>"
    enhanced = enhance(model, image)                                         # numpy H×W×3 or torch (B×)C×H×W
    enhanced = enhance(model, image, tile=512, self_ensemble=True)

Test modes, one function each: `enhance_tiled` (overlapping tiles, smoothly blended, so memory is bounded by
the tile, with the whole image's statistics shared by every tile) and `self_ensemble` (x8 dihedral transforms,
inverted and averaged); `enhance` combines them, and tiles by itself only when the whole image would not fit
(`needs_tiles`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from lle.models.blocks import pad_to_multiple
from lle.models.complexity import forward_bytes_per_pixel, prefers_channels_last
from lle.models.exposure import check_exposure, match_exposure
from lle.models.image_statistics import ImageStatistics, TileRegion, partition
from lle.models.interface import TILED_PSNR_DB, input_multiple, network_input, tile_minimum, tile_multiple

OFFICIAL_PREFIX = "official:"
DEFAULT_TILE_OVERLAP = 32
DEFAULT_TILE = 512  # what enhance() uses when it tiles by itself
MIN_TILE = 32  # pixels; smaller tiles spend most of their work on the overlap
# Passes over the tiles that gather the whole image's statistics (docs/benchmarks.md, "Tiles without seams"):
# pass p replays those of pass p - 1; it stops once no statistic moves by more than STATISTICS_TOLERANCE.
DEFAULT_MAX_PASSES = 3
STATISTICS_TOLERANCE = 1e-3

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ModelInfo:
    """Where a network comes from and what it takes (the network declares the input: `network_input`)."""

    name: str | None  # the model name, as in conf/model/<name>.yaml
    input_kind: str  # one of lle.models.interface.INPUT_KINDS
    in_channels: int
    data_name: str | None = None
    protocol: dict[str, Any] = field(default_factory=dict)  # the training/evaluation protocol
    data_config: dict[str, Any] = field(default_factory=dict)  # how the training inputs were made (raw levels…)
    source: str = ""  # the checkpoint it was loaded from


class Enhancer(nn.Module):
    """A network ready for inference: eval mode, no gradients, on `device`, with the chosen numerics.

    `forward` takes a float B×C×H×W tensor in [0, 1] on any device and returns the float32 output on
    `device`. Options: `channels_last` memory format (None, the default: `lle.models.complexity.prefers_channels_last`,
    on where it was measured faster), `bf16` autocast (faster, but changes the numbers), `compile` with
    torch.compile.
    """

    def __init__(
        self,
        net: nn.Module,
        info: ModelInfo | None = None,
        device: str | torch.device = "cpu",
        channels_last: bool | None = None,
        bf16: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        self.device = resolve_device(device)
        net = net.eval().requires_grad_(False).to(self.device)
        if channels_last is None:
            channels_last = prefers_channels_last(net)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = torch.compile(net) if compile else net
        self.info = info or _info(net, name=None)
        self.channels_last, self.bf16 = channels_last, bf16
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            y = self.net(x)
        return y.float().contiguous()


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` is an allocation failure (CPU allocators raise a RuntimeError, CUDA its own error)."""
    oom = getattr(torch, "OutOfMemoryError", ())
    text = str(err)
    return isinstance(err, (MemoryError, oom)) or "can't allocate memory" in text or "out of memory" in text


def resolve_device(device: str | torch.device) -> torch.device:
    """`auto` is the GPU when there is one, else the CPU; a device that is not one, or is not here, is named."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {device!r} is not a device: use auto, cpu, cuda, cuda:1, …") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA GPU is available here; use cpu (or auto)")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return resolved


# --- loading -----------------------------------------------------------------------------------------------


def load_model(
    source: str | PathLike,
    device: str | torch.device = "cpu",
    channels_last: bool | None = None,
    bf16: bool = False,
    compile: bool = False,
) -> Enhancer:
    """An `Enhancer` from an lle checkpoint alone (it carries its model config), or from an official weight
    file given as `official:<name>:<path>` (see `lle.models.from_official`).

    Reading a checkpoint runs no code from it: it is loaded with `torch.load(weights_only=True)` and its config
    builds only lle's own classes (`lle.runs.allow_list`).
    """
    text = str(source)
    if text.startswith(OFFICIAL_PREFIX):
        net, info = load_official(text)
    else:
        net, info = _load_lle_checkpoint(Path(source))
    return Enhancer(net, info, device=device, channels_last=channels_last, bf16=bf16, compile=compile)


def model_file(source: str | PathLike) -> Path:
    """The file `source` names: an lle checkpoint, or the weight file of `official:<name>:<file>`."""
    text = str(source)
    return Path(text.split(":", 2)[-1] if text.startswith(OFFICIAL_PREFIX) else text)


def load_official(spec: str) -> tuple[nn.Module, ModelInfo]:
    """The network of an official weight file given as `official:<name>:<path>` (see `lle.models.from_official`)."""
    name, _, path = spec[len(OFFICIAL_PREFIX) :].partition(":")
    if not spec.startswith(OFFICIAL_PREFIX) or not name or not path:
        raise ValueError(f"expected official:<name>:<path>, got {spec!r}")
    from lle.models.official import DECOMPOSITIONS, OFFICIAL_DATA_CONFIG, from_official

    if name in DECOMPOSITIONS:
        raise ValueError(
            f"{spec}: {name} returns a decomposition (reflectance and illumination), not an enhanced image; "
            f"load it in Python: lle.models.from_official({name!r}, {path!r})"
        )
    net = from_official(name, path)
    # What the network takes comes from the network (ALEN: packed Bayer, 4 channels, ×2); how a file becomes that
    # input (ALEN: SID's levels, not clipped) from the official data code.
    return net, _info(net, name=name, source=spec, data_config=dict(OFFICIAL_DATA_CONFIG.get(name, {})))


def _load_lle_checkpoint(path: Path) -> tuple[nn.Module, ModelInfo]:
    from lle.runs.checkpoint import load_lle_network

    net, metadata = load_lle_network(path)
    return net, _info(
        net,
        name=metadata.model_name,
        data_name=metadata.data_name,
        protocol=dict(metadata.protocol),
        data_config=dict(metadata.data_config),
        source=str(path),
    )


def _info(net: nn.Module, name: str | None, **details: Any) -> ModelInfo:
    taken = network_input(net)
    return ModelInfo(name=name, input_kind=taken.kind, in_channels=taken.channels, **details)


# --- test modes --------------------------------------------------------------------------------------------


def _runner(model: nn.Module | Forward) -> Forward:
    """A float32 forward that moves the input to a bare module's device (an `Enhancer` does it itself)."""
    if isinstance(model, Enhancer) or not isinstance(model, nn.Module):
        return model
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    return lambda x: model(x.to(device, torch.float32)).float()


@torch.inference_mode()
def self_ensemble(model: nn.Module | Forward, x: torch.Tensor) -> torch.Tensor:
    """x8 self-ensemble: the mean of the outputs for the 8 rotations/flips of `x`, each transformed back."""
    forward = _runner(model)
    total = None
    for quarter_turns in range(4):
        for flip in (False, True):
            t = torch.rot90(x, quarter_turns, dims=(-2, -1))
            y = forward(t.flip(-1) if flip else t)
            y = torch.rot90(y.flip(-1) if flip else y, -quarter_turns, dims=(-2, -1))
            total = y.clone() if total is None else total.add_(y)  # clone: y may alias the input
    return total.div_(8)


def tile_starts(size: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Starts of tiles of `tile` pixels covering `size`, overlapping by at least `overlap`, each a multiple of
    `multiple` where `size - tile` is one (`tile_length` makes it so).

    Every tile has the full size (the last one is shifted back), so a compiled network sees one shape.
    """
    if size <= tile:
        return [0]
    step = max(multiple, (tile - overlap) // multiple * multiple)
    return [*range(0, size - tile, step), size - tile]


def tile_length(tile: int, size: int, multiple: int = 1) -> int:
    """The tile side for an image side of `size`: `tile`, shortened by less than `multiple` so that it leaves the
    remainder modulo `multiple` that `size` leaves.

    With every tile starting at a multiple of `multiple`, the last one then ends at the image's edge, and each
    tile's downsampled maps round their sizes as the whole image's do: the tiles' maps are crops of the image's.
    """
    if size <= tile:
        return size
    length = tile - (tile - size) % multiple
    return length if length > 0 else length + multiple


def blend_window(length: int, overlap: int, taper_start: bool, taper_end: bool) -> torch.Tensor:
    """1-D tile weights: 1 inside, a ramp over `overlap` pixels on sides shared with a neighbour.

    The ramp is 0 over its outer quarter (the pixels nearest the tile's edge, where a tile lacks the context
    beyond it), a raised cosine over the middle half and 1 over the inner quarter, so a network whose
    receptive field reaches at most overlap/4 pixels gives exactly the untiled output. Two ramps overlapping
    by `overlap` sum to 1, and every pixel keeps a positive weight in some tile. Sides on the image border
    keep full weight.
    """
    window = torch.ones(length)
    n = min(overlap, length)
    if n > 0:
        margin = n // 4
        inner = n - 2 * margin
        ramp = torch.zeros(n)
        ramp[margin : margin + inner] = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(inner) + 0.5) / inner)
        ramp[margin + inner :] = 1
        if taper_start:
            window[:n] = torch.minimum(window[:n], ramp)
        if taper_end:
            window[-n:] = torch.minimum(window[-n:], ramp.flip(0))
    return window


def _scaled(value: int, scale: Fraction, what: str) -> int:
    scaled = value * scale
    if scaled.denominator != 1:
        raise ValueError(f"the network's output scale {scale} does not map the {what} ({value} px) to whole pixels")
    return int(scaled)


def smallest_tile(overlap: int) -> int:
    """The smallest useful tile for `overlap`: the larger of `MIN_TILE` and twice the overlap."""
    return max(MIN_TILE, 2 * overlap)


def check_tile(tile: int, overlap: int) -> None:
    """Refuse a tile too small to be useful, naming the minimum."""
    if overlap < 0 or overlap >= tile:
        raise ValueError(f"tile overlap must be in [0, tile), got overlap={overlap} with tile={tile}")
    if tile < smallest_tile(overlap):
        raise ValueError(
            f"tile {tile} is too small: use at least {smallest_tile(overlap)} "
            f"(the larger of {MIN_TILE} and twice the overlap {overlap})"
        )


def check_network_tile(
    model: nn.Module | Forward, tile: int, overlap: int, options: tuple[str, str] = ("tile", "overlap")
) -> None:
    """Refuse tiles smaller than the network's `tile_minimum`, naming the network, its minimum and `options` (the
    names the caller's user gave the tile and overlap by): below it, the tiled output strays from the untiled
    output by more than the documented figure."""
    net, name = _network(model), network_name(model)
    minimum = tile_minimum(net) if isinstance(net, nn.Module) else None
    figure = f'{TILED_PSNR_DB:g} dB PSNR (docs/benchmarks.md, "Tiles without seams")'
    never = f"{options[0]} 0" if options[0].startswith("-") else f"{options[0]}=None"
    if isinstance(net, nn.Module) and minimum is None:
        raise ValueError(
            f"{name} cannot be tiled: no tile size matches its untiled output to {figure}; use {never} (no tiles)"
        )
    if minimum is not None and (tile < minimum.tile or overlap < minimum.overlap):
        raise ValueError(
            f"{options[0]} {tile} with {options[1]} {overlap} is too small for {name}: its tiled output matches the "
            f"untiled output to {figure} only from {options[0]} {minimum.tile} with {options[1]} {minimum.overlap} "
            f"up; use at least those, or {never} (no tiles)"
        )


def network_name(model: nn.Module | Forward) -> str:
    """The model's name for messages: its config name where it was loaded from a checkpoint, else its class."""
    info = model.info if isinstance(model, Enhancer) else None
    return (info and info.name) or type(_network(model)).__name__


@torch.inference_mode()
def enhance_tiled(
    model: nn.Module | Forward,
    x: torch.Tensor,
    tile: int,
    overlap: int = DEFAULT_TILE_OVERLAP,
    max_passes: int = DEFAULT_MAX_PASSES,
    tolerance: float = STATISTICS_TOLERANCE,
    statistics: ImageStatistics | None = None,
) -> torch.Tensor:
    """Run `model` on overlapping `tile`×`tile` crops of B×C×H×W `x` and blend them into one output.

    Peak memory follows the tile, not the image; tiles go to the model's device one at a time and the
    output is assembled on `x`'s device. Networks that upscale (e.g. raw → sRGB at 2×) are handled.
    A network with image-level context (global pooling, a global branch, non-local attention) gets the whole
    image's statistics (`lle.models.image_statistics`): each pass over the tiles gathers them and the next
    replays them, up to `max_passes` or until they move by at most `tolerance` (relative); a purely local
    network needs one pass. The result then equals the untiled one where the network's local receptive
    field fits in the overlap. Pass an empty `statistics` to read them afterwards (`passes`, `change`).

    Tiles stay on the network's pixel grid (`lle.models.interface.tile_multiple`: ABSGN and Retinex-Net 8,
    MIRNet 4, ALEN on sRGB 16): a network that pads its input to a multiple is tiled on the image padded once as its
    forward pass pads it, every tile starts at a multiple of the grid, and its sides are `tile_length`s. Off the
    grid, a tile's ¼- or ⅛-resolution maps would be shifted against the whole image's.
    Any tile is run here; `enhance_tensor` (lle-enhance, `enhance`) refuses those below the network's minimum
    (`check_network_tile`).
    """
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    forward = _runner(model)
    net = _network(model)
    multiple = tile_multiple(net)
    padded, (height, width) = pad_to_multiple(x, input_multiple(net))
    tile_h, tile_w = (tile_length(tile, side, multiple) for side in padded.shape[-2:])
    rows = tile_starts(padded.shape[-2], tile_h, overlap, multiple)
    cols = tile_starts(padded.shape[-1], tile_w, overlap, multiple)
    if len(rows) == len(cols) == 1:
        return forward(x).to(x.device)
    statistics = ImageStatistics() if statistics is None else statistics
    statistics.image_size = tuple(padded.shape[-2:])  # what the tiles cover, padding included
    for _ in range(max(max_passes, 1)):
        statistics.begin_pass()
        out = _tiled_pass(forward, padded, (tile_h, tile_w), overlap, rows, cols, statistics)
        statistics.end_pass()
        if statistics.count == 0 or statistics.change <= tolerance:
            break
    scale = Fraction(out.shape[-2], padded.shape[-2])
    return out[..., : _scaled(height, scale, "height"), : _scaled(width, scale, "width")]


def _network(model: nn.Module | Forward) -> nn.Module | Forward:
    return model.net if isinstance(model, Enhancer) else model


def _tiled_pass(
    forward: Forward,
    x: torch.Tensor,
    tile: tuple[int, int],
    overlap: int,
    rows: list[int],
    cols: list[int],
    statistics: ImageStatistics,
) -> torch.Tensor:
    height, width = x.shape[-2:]
    tile_h, tile_w = tile
    owned_rows, owned_cols = partition(rows, tile_h, height), partition(cols, tile_w, width)
    out = weight = None
    for top, owned_row in zip(rows, owned_rows):
        for left, owned_col in zip(cols, owned_cols):
            with statistics.tile(TileRegion(top, left, tile_h, tile_w, (*owned_row, *owned_col))):
                y = forward(x[..., top : top + tile_h, left : left + tile_w]).to(x.device)
            if out is None:
                scale = Fraction(y.shape[-2], tile_h)
                if Fraction(y.shape[-1], tile_w) != scale:
                    raise ValueError(f"the network scales height and width differently ({tuple(y.shape)})")
                out_h, out_w = _scaled(height, scale, "height"), _scaled(width, scale, "width")
                out = torch.zeros(*y.shape[:-2], out_h, out_w, dtype=torch.float32, device=x.device)
                weight = torch.zeros(out_h, out_w, dtype=torch.float32, device=x.device)
                band = _scaled(overlap, scale, "overlap")
            y_top, y_left = _scaled(top, scale, "tile position"), _scaled(left, scale, "tile position")
            window = torch.outer(
                blend_window(y.shape[-2], band, top > 0, top + tile_h < height),
                blend_window(y.shape[-1], band, left > 0, left + tile_w < width),
            ).to(x.device)
            region = (..., slice(y_top, y_top + y.shape[-2]), slice(y_left, y_left + y.shape[-1]))
            out[region].add_(y * window)
            weight[region[1:]].add_(window)
    return out.div_(weight)


# --- when to tile --------------------------------------------------------------------------------------------

MEMORY_SAFETY = 0.6  # use at most this share of the free memory for one untiled forward pass


@dataclass(frozen=True)
class TilingDecision:
    """Whether an image is enhanced in tiles, with which overlap, and why (`reason` is a sentence for the user)."""

    tile: int | None
    reason: str
    overlap: int = DEFAULT_TILE_OVERLAP
    short_of_memory: bool = False  # the whole image would not fit (tiled, or untiled where the network cannot be)


def free_memory_bytes(device: torch.device) -> int:
    """Free memory where the forward pass runs: the GPU's free memory, or the RAM the OS can give (MemAvailable,
    within the process's address-space limit)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import resource

    import psutil

    available = psutil.virtual_memory().available
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)  # an address-space limit (ulimit -v) binds first
    if limit != resource.RLIM_INFINITY:
        available = min(available, max(limit - psutil.Process().memory_info().vms, 0))
    return available


def model_device(model: nn.Module | Forward) -> torch.device:
    if isinstance(model, Enhancer):
        return model.device
    parameter = next(model.parameters(), None) if isinstance(model, nn.Module) else None
    return parameter.device if parameter is not None else torch.device("cpu")


def needs_tiles(
    model: nn.Module | Forward,
    shape: Sequence[int],
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_TILE_OVERLAP,
    free_bytes: int | None = None,
) -> TilingDecision:
    """Tile (with `tile` and `overlap`, raised to the network's `tile_minimum`) only when one untiled forward pass
    of `model` on a B×C×H×W input of `shape` would need more than `MEMORY_SAFETY` of the free memory, from the
    network's measured bytes per pixel (`lle.models.complexity.forward_bytes_per_pixel`). A network that cannot be
    tiled is never tiled."""
    net = _network(model)
    minimum = tile_minimum(net) if isinstance(net, nn.Module) else None
    if minimum is not None:
        tile, overlap = max(tile, minimum.tile), max(overlap, minimum.overlap)
    pixels = math.prod(shape[:-3]) * shape[-2] * shape[-1]
    if max(shape[-2:]) <= tile or not isinstance(net, nn.Module):
        return TilingDecision(None, "the image fits in one tile", overlap)
    need = forward_bytes_per_pixel(net) * pixels
    free = free_memory_bytes(model_device(model)) if free_bytes is None else free_bytes
    gib = 2**30
    if need <= MEMORY_SAFETY * free:
        return TilingDecision(None, f"untiled: needs about {need / gib:.1f} GiB of {free / gib:.1f} GiB free", overlap)
    if minimum is None:
        return TilingDecision(
            None,
            f"untiled, although it needs about {need / gib:.1f} GiB of {free / gib:.1f} GiB free: "
            f"{network_name(model)} cannot be tiled within {TILED_PSNR_DB:g} dB of its untiled output",
            overlap,
            short_of_memory=True,
        )
    return TilingDecision(
        tile,
        f"tiling ({tile} px, overlap {overlap}): the whole image would need about {need / gib:.1f} GiB "
        f"and {free / gib:.1f} GiB are free",
        overlap,
        short_of_memory=True,
    )


# --- images in, images out ---------------------------------------------------------------------------------

INTEGER_MAXIMUM = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, torch.uint8: 255.0, torch.uint16: 65535.0}


@torch.inference_mode()
def enhance_tensor(
    model: nn.Module | Forward,
    x: torch.Tensor,
    tile: int | None = None,
    overlap: int = DEFAULT_TILE_OVERLAP,
    ensemble: bool = False,
    exposure: float | None = None,
) -> torch.Tensor:
    """B×C×H×W float in [0, 1] → B×3×H'×W' float32 on `x`'s device, not clamped (the network contract).

    `tile`: None (or 0) runs the whole image at once; a size tiles it (`enhance_tiled`), if it is at least the
    network's minimum (`check_network_tile`; `lle.models.interface.tile_minimum`). The ensemble
    transforms the whole image and tiles each transform, so the tiles of one transform share its statistics.
    `exposure`: None returns the output as the network gives it; a mean linear luminance in (0, 1) re-exposes the
    whole output to it, for any network (`lle.models.exposure`; 0.18 is photographic mid-grey), clipped to [0, 1].
    """
    check_exposure(exposure)
    forward = _runner(model)
    if tile:
        check_tile(tile, overlap)
        check_network_tile(model, tile, overlap)
        forward = lambda t, inner=forward: enhance_tiled(inner, t, tile, overlap)  # noqa: E731
    y = (self_ensemble(forward, x) if ensemble else forward(x)).to(x.device)
    return y if exposure is None else match_exposure(y, exposure, refine=4)


@torch.inference_mode()
def enhance(
    model: nn.Module | Forward,
    image: np.ndarray | torch.Tensor,
    tile: int | str | None = "auto",
    overlap: int = DEFAULT_TILE_OVERLAP,
    self_ensemble: bool = False,
    exposure: float | None = None,
) -> np.ndarray | torch.Tensor:
    """Enhance one image (or a batch), returning the same kind as given.

    - numpy H×W×C uint8 / uint16 / float in [0, 1] → H'×W'×3 of the same dtype;
    - torch C×H×W or B×C×H×W (float in [0, 1], uint8 or uint16) → the same layout, dtype and device.
    Integer outputs are clamped and rounded; float outputs are returned as the network gives them.
    `tile`: "auto" (default) tiles with `DEFAULT_TILE` only when the whole image would not fit in memory
    (`needs_tiles`, and warns then); a size forces tiles of that size (with `overlap`; a size below the network's
    minimum is refused, naming it); None or 0 never tiles.
    `self_ensemble` runs the x8 ensemble. `exposure`: None keeps the network's own brightness (lle's default model
    returns mean linear luminance 0.3, what it was trained to); a value in (0, 1) re-exposes the output to that
    mean linear luminance, for any network (0.18 is photographic mid-grey; see `enhance_tensor`).
    """
    if isinstance(image, np.ndarray):
        if image.ndim != 3:
            raise ValueError(f"expected an H×W×C image array, got shape {image.shape}")
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32))[None]
    elif isinstance(image, torch.Tensor):
        if image.ndim not in (3, 4):
            raise ValueError(f"expected a C×H×W or B×C×H×W tensor, got shape {tuple(image.shape)}")
        x = (image[None] if image.ndim == 3 else image).float()
    else:
        raise TypeError(f"expected a numpy array or a torch tensor, got {type(image).__name__}")
    maximum = INTEGER_MAXIMUM.get(image.dtype)
    is_float = image.dtype.kind == "f" if isinstance(image, np.ndarray) else image.is_floating_point()
    if maximum is None and not is_float:
        raise TypeError(f"unsupported image dtype {image.dtype}: use uint8, uint16 or float")
    if maximum:
        x = x.div_(maximum)
    if tile == "auto":
        decision = needs_tiles(model, x.shape, overlap=overlap)
        if decision.short_of_memory:
            warnings.warn(f"lle.enhance: {decision.reason}; pass tile=None to never tile", stacklevel=2)
        tile, overlap = decision.tile, decision.overlap
    elif isinstance(tile, str):
        raise ValueError(f"tile must be 'auto', None or a size in pixels, got {tile!r}")
    y = enhance_tensor(model, x, tile=tile, overlap=overlap, ensemble=self_ensemble, exposure=exposure)
    if maximum:
        y = y.clamp_(0, 1).mul_(maximum).round_()
    if isinstance(image, np.ndarray):
        return y[0].permute(1, 2, 0).cpu().numpy().astype(image.dtype)
    y = y.to(image.device, image.dtype)
    return y[0] if image.ndim == 3 else y
