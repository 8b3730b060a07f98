"""Running an sRGB method on packed RAW data: non-original adaptations, labelled as such.

Networks published for sRGB images (GLADNet, MIRNet) take 3 channels and return an image of the same
size; packed RAW data (SID) gives 4 (Bayer) or 9 (X-Trans) channels at 1/2 or 1/3 of the target's
resolution. `PackedRawAdapter` maps the packed channels to 3 with a learned 1×1 convolution, runs the
network at the packed resolution, and upsamples its output with SID's own head (a convolution to
3·s² channels and a pixel shuffle by s). ABSGN and ALEN adapt natively through their constructor
arguments and need no adapter.

The classical baselines have nothing to learn, so `PackedRawDevelopment` develops the packed data with a
fixed, plain recipe before the method runs: the mean of each colour's channels, then bilinear upsampling to
the target's resolution.

The adapter is part of the network's config, so that building the `net:` node of a model config gives the
network exactly as it was trained (`adapted`):

    net:
      _target_: lle.models.adapters.adapted
      network: lle.models.gladnet.GLADNet        # the network class, then its constructor arguments
      adapter: {in_channels: ${oc.select:data.in_channels,3}, upscale: ${oc.select:data.upscale,1}}
      global_size: 96
"""

from __future__ import annotations

import importlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.interface import kind_of_channels, tile_attributes

# Colour (0 R, 1 G, 2 B) of each packed channel, in the order lle.data.raw writes them.
PACKED_CHANNEL_COLOURS = {
    4: (0, 1, 2, 1),  # pack_bayer, SID's order: R, G (R row), B, G (B row)
    9: (0, 1, 2, 0, 2, 1, 1, 1, 1),  # pack_xtrans, the official Fuji order: R 0/3, B 2/4, G 1 and 5–8
}


class PackedRawAdapter(nn.Module):
    def __init__(self, net: nn.Module, in_channels: int, upscale: int):
        super().__init__()
        self.net = net
        self.in_channels, self.input_kind, self.upscale = in_channels, kind_of_channels(in_channels), upscale
        self.to_rgb = nn.Conv2d(in_channels, 3, 1)
        self.head = nn.Sequential(nn.Conv2d(3, 3 * upscale**2, 3, padding=1), nn.PixelShuffle(upscale))
        self.size_multiple = getattr(net, "size_multiple", 1)
        vars(self).update(tile_attributes(net))  # `net` runs at the packed resolution: the same tiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(self.to_rgb(x)))


def colour_averaging_weight(in_channels: int) -> torch.Tensor:
    """3×`in_channels`×1×1 convolution weight that averages the packed channels of each colour."""
    if in_channels not in PACKED_CHANNEL_COLOURS:
        raise ValueError(
            f"no packed RAW layout with {in_channels} channels; known: "
            f"{sorted(PACKED_CHANNEL_COLOURS)} (Bayer, X-Trans)"
        )
    member = F.one_hot(torch.tensor(PACKED_CHANNEL_COLOURS[in_channels]), 3).T.float()  # colour × channel
    return (member / member.sum(dim=1, keepdim=True))[..., None, None]


class PackedRawDevelopment(nn.Module):
    """`net` on packed RAW data developed by a fixed recipe: per-colour channel means (RGGB → RGB averages the
    two greens), bilinear upsampling by `upscale`.

    Nothing is learned and nothing else is done: no white balance, colour matrix or tone curve, so the
    colours are the sensor's (typically greenish), and the input is the exposure-amplified linear signal.
    """

    def __init__(self, net: nn.Module, in_channels: int, upscale: int):
        super().__init__()
        self.net = net
        # Not saved in checkpoints: it is a function of in_channels, not a learned state.
        self.register_buffer("to_rgb", colour_averaging_weight(in_channels), persistent=False)
        self.in_channels, self.input_kind, self.upscale = in_channels, kind_of_channels(in_channels), upscale
        self.size_multiple = getattr(net, "size_multiple", 1)
        vars(self).update(tile_attributes(net, input_scale=upscale))  # `net` sees each tile upsampled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = F.conv2d(x, self.to_rgb.to(x.dtype))
        if self.upscale != 1:
            rgb = F.interpolate(rgb, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return self.net(rgb)


ADAPTERS = {"learned": PackedRawAdapter, "development": PackedRawDevelopment}


def adapt_to_input(net: nn.Module, in_channels: int = 3, upscale: int = 1, kind: str = "learned") -> nn.Module:
    """`net` itself for sRGB data (3 channels, output at the input's size), else `net` in the adapter named by
    `kind`: "learned" (`PackedRawAdapter`, for networks) or "development" (`PackedRawDevelopment`, for methods
    with nothing to train)."""
    if kind not in ADAPTERS:
        raise ValueError(f"input adapter kind must be one of {sorted(ADAPTERS)}, got {kind!r}")
    if in_channels == 3 and upscale == 1:
        return net
    return ADAPTERS[kind](net, in_channels, upscale)


def adapted(network: str, adapter: dict | None = None, **kwargs) -> nn.Module:
    """The network class named by `network` (a dotted path) built with `kwargs`, then `adapt_to_input(**adapter)`.

    The network's own arguments stay at the top of the config node (`model.net.global_size=…` on the command
    line), and the adapter's in one sub-node (`model.net.adapter.kind`).
    """
    module_name, _, class_name = network.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"model.net.network={network!r} does not name a network class ({err})") from err
    return adapt_to_input(cls(**kwargs), **dict(adapter or {}))
