"""Running an sRGB network on packed RAW data: a non-original adaptation, labelled as such.

Networks published for sRGB images (GLADNet, MIRNet) take 3 channels and return an image of the same
size; packed RAW data (SID) gives 4 (Bayer) or 9 (X-Trans) channels at 1/2 or 1/3 of the target's
resolution. `PackedRawAdapter` maps the packed channels to 3 with a learned 1×1 convolution, runs the
network at the packed resolution, and upsamples its output with SID's own head (a convolution to
3·s² channels and a pixel shuffle by s). ABSGN and ALEN adapt natively through their constructor
arguments and need no adapter.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class PackedRawAdapter(nn.Module):
    def __init__(self, net: nn.Module, in_channels: int, upscale: int):
        super().__init__()
        self.net = net
        self.to_rgb = nn.Conv2d(in_channels, 3, 1)
        self.head = nn.Sequential(nn.Conv2d(3, 3 * upscale**2, 3, padding=1), nn.PixelShuffle(upscale))
        self.size_multiple = getattr(net, "size_multiple", 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(self.to_rgb(x)))


def adapt_to_input(net: nn.Module, in_channels: int = 3, upscale: int = 1) -> nn.Module:
    """`net` itself for sRGB data (3 channels, output at the input's size), else `net` in a `PackedRawAdapter`."""
    if in_channels == 3 and upscale == 1:
        return net
    return PackedRawAdapter(net, in_channels, upscale)
