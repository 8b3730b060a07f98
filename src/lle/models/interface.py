"""What a network takes and gives, declared by the network itself and read by everyone else.

Every network (and every adapter around one) states three attributes; inference, export, `lle-report` and
`lle-bench` ask the network instead of re-deriving them from configs:

- `in_channels`: channels of the input tensor (3 sRGB, 4 packed Bayer, 9 packed X-Trans);
- `input_kind`: one of `INPUT_KINDS`, which tells how an image file becomes that tensor;
- `upscale`: output resolution / input resolution (2 for packed Bayer → sRGB, 3 for X-Trans, else 1).

A network without the attributes is an sRGB network of the same resolution (the classical methods).

Tiled inference keeps every tile on the network's pixel grid, which two more attributes declare: a network
whose forward pass pads its input to a multiple (downsampling stages) states `size_multiple`, or
`input_multiple` where that of the tensor it is given differs (ALEN on sRGB unshuffles first); a network that
downsamples without padding (Retinex-Net's strided convolutions) states `stride_multiple`.

Tiles are exact only where the network's receptive field fits in the overlap, so a network states how small its
tiles may be and keep the tiled output within `TILED_PSNR_DB` of the untiled one: `min_tile` and
`min_tile_overlap` (input pixels, read with a margin off `benchmarks/tiled_seams.py --sweep`, docs/benchmarks.md
"Tiles without seams"), or `tileable = False` where no tile reaches it (an image-level computation the tiles do not
share, such as a histogram). A network that states none of them is tiled at any size lle-enhance accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

SRGB, RAW_BAYER, RAW_XTRANS = "srgb", "raw_bayer", "raw_xtrans"
INPUT_KINDS = (SRGB, RAW_BAYER, RAW_XTRANS)
# Channels of each input kind, as lle.data.raw packs the mosaics.
KIND_CHANNELS = {SRGB: 3, RAW_BAYER: 4, RAW_XTRANS: 9}
TILED_PSNR_DB = 45.0  # PSNR of tiled vs untiled output, clamped to [0, 1]: the documented figure (docs/benchmarks.md)


@dataclass(frozen=True)
class NetworkInput:
    kind: str = SRGB
    channels: int = 3
    upscale: int = 1

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"input kind must be one of {', '.join(INPUT_KINDS)}, got {self.kind!r}")


def kind_of_channels(channels: int) -> str | None:
    """The input kind of a tensor with `channels` channels (3 is sRGB), None for a count no kind has (a network
    built for, say, 1-channel input is fine; only reading image files for it is not defined)."""
    return next((kind for kind, count in KIND_CHANNELS.items() if count == channels), None)


def network_input(net: nn.Module) -> NetworkInput:
    """The input `net` declares (see the module docstring)."""
    channels = int(getattr(net, "in_channels", 3))
    kind = getattr(net, "input_kind", None) or kind_of_channels(channels)
    if kind is None:
        raise ValueError(
            f"{type(net).__name__} takes {channels} channels, which no input kind has; known: "
            + ", ".join(f"{k} ({c})" for k, c in KIND_CHANNELS.items())
        )
    return NetworkInput(kind=kind, channels=channels, upscale=int(getattr(net, "upscale", 1) or 1))


def input_multiple(net: nn.Module) -> int:
    """The multiple `net` pads its input's height and width to (1: any size as it is)."""
    return int(getattr(net, "input_multiple", None) or getattr(net, "size_multiple", 1) or 1)


def tile_multiple(net: nn.Module) -> int:
    """The grid of `net`'s downsampled maps, in input pixels: its padding multiple or its `stride_multiple`."""
    return max(input_multiple(net), int(getattr(net, "stride_multiple", 1) or 1))


@dataclass(frozen=True)
class TileMinimum:
    tile: int  # pixels of the network's input, per side
    overlap: int  # pixels


def tile_minimum(net: nn.Module) -> TileMinimum | None:
    """The smallest tile and overlap that keep `net`'s tiled output within `TILED_PSNR_DB` of its untiled output;
    None when no tile does (`tileable = False`)."""
    if not getattr(net, "tileable", True):
        return None
    return TileMinimum(int(getattr(net, "min_tile", 1) or 1), int(getattr(net, "min_tile_overlap", 0) or 0))


def tile_attributes(net: nn.Module, input_scale: int = 1) -> dict[str, object]:
    """`net`'s tile minimum as a wrapper states it, where `net` sees the wrapper's input `input_scale`× larger
    (`lle.models.adapters.PackedRawDevelopment` upsamples first): the wrapper's tiles are that much smaller."""
    minimum = tile_minimum(net)
    if minimum is None:
        return {"tileable": False}
    return {"min_tile": -(-minimum.tile // input_scale), "min_tile_overlap": -(-minimum.overlap // input_scale)}
