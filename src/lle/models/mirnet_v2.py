"""MIRNet-v2: Learning Enriched Features for Fast Image Restoration and Enhancement (Zamir et al., TPAMI 2022).

Transcribed from the official code (`swz30/MIRNetv2` @ 9014049, `basicsr/models/archs/mirnet_v2_arch.py`)
with the LOL configuration (`Enhancement/Options/Enhancement_MIRNet_v2_Lol.yml`) as defaults, 5,858,560
parameters (docs/specs/mirnet.md §1.2). What v2 changes from MIRNet:
  * the DAU becomes a residual context block (RCB): conv-LReLU-conv, then a GCNet context block;
  * streams grow by `chan_factor` = 1.5 (80, 120, 180 channels), resampling is AvgPool→1×1 / 1×1→bilinear;
  * the MRB is a fixed 2-column, 3-stream block whose SKFFs fuse two inputs (bottom-up only);
  * the four RRGs use grouped 3×3 convolutions with 1, 2, 4, 4 groups.
No convolution has a bias. Module names are the official ones, so an official checkpoint maps one to one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from lle.models.blocks import crop_to, pad_to_multiple
from lle.models.image_statistics import softmax_pool, spatial_mean
from lle.models.interface import kind_of_channels


class SKFF(nn.Module):
    """Selective kernel feature fusion as in MIRNet, with LeakyReLU(0.2) instead of PReLU."""

    def __init__(self, in_channels: int, height: int = 2, reduction: int = 8, bias: bool = False):
        super().__init__()
        d = max(int(in_channels / reduction), 4)
        self.conv_du = nn.Sequential(nn.Conv2d(in_channels, d, 1, bias=bias), nn.LeakyReLU(0.2))
        self.fcs = nn.ModuleList(nn.Conv2d(d, in_channels, 1, bias=bias) for _ in range(height))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        feats = torch.stack(inputs, dim=1)  # B × height × C × H × W
        z = self.conv_du(spatial_mean(feats.sum(dim=1)))
        weights = torch.softmax(torch.stack([fc(z) for fc in self.fcs], dim=1), dim=1)
        return (feats * weights).sum(dim=1)


class ContextBlock(nn.Module):
    """GCNet global context (Cao et al. 2019), "add" fusion: x + transform(Σ softmax(mask) · x)."""

    def __init__(self, n_feat: int, bias: bool = False):
        super().__init__()
        self.conv_mask = nn.Conv2d(n_feat, 1, 1, bias=bias)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(n_feat, n_feat, 1, bias=bias), nn.LeakyReLU(0.2), nn.Conv2d(n_feat, n_feat, 1, bias=bias)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = softmax_pool(self.conv_mask(x), x)[..., None, None]  # softmax over all positions
        return x + self.channel_add_conv(context)


class RCB(nn.Module):
    """Residual context block: conv3×3-LReLU-conv3×3 (grouped), context block, LReLU, + x."""

    def __init__(self, n_feat: int, bias: bool = False, groups: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feat, n_feat, 3, padding=1, bias=bias, groups=groups),
            nn.LeakyReLU(0.2),
            nn.Conv2d(n_feat, n_feat, 3, padding=1, bias=bias, groups=groups),
        )
        self.act = nn.LeakyReLU(0.2)
        self.gcnet = ContextBlock(n_feat, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.gcnet(self.body(x))) + x


class Down(nn.Module):
    """½ resolution: 2×2 average pool (ceil mode), then 1×1 conv C → C·chan_factor."""

    def __init__(self, in_channels: int, chan_factor: float, bias: bool = False):
        super().__init__()
        self.bot = nn.Sequential(
            nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(in_channels, int(in_channels * chan_factor), 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bot(x)


class Up(nn.Module):
    """2× resolution: 1×1 conv C → C/chan_factor, then bilinear ×2."""

    def __init__(self, in_channels: int, chan_factor: float, bias: bool = False):
        super().__init__()
        self.bot = nn.Sequential(
            nn.Conv2d(in_channels, int(in_channels // chan_factor), 1, bias=bias),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bot(x)


class DownSample(nn.Module):
    """One `Down` step (the official wrapper, kept for its `body.0` key)."""

    def __init__(self, in_channels: int, chan_factor: float):
        super().__init__()
        self.body = nn.Sequential(Down(in_channels, chan_factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UpSample(nn.Module):
    """One `Up` step (the official wrapper, kept for its `body.0` key)."""

    def __init__(self, in_channels: int, chan_factor: float):
        super().__init__()
        self.body = nn.Sequential(Up(in_channels, chan_factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MRB(nn.Module):
    """Multi-scale residual block: 3 streams, 2 columns; each stream's RCB (`dau_*`) serves both columns."""

    def __init__(self, n_feat: int, chan_factor: float, bias: bool = False, groups: int = 1):
        super().__init__()
        c0, c1, c2 = (int(n_feat * chan_factor**j) for j in range(3))
        self.dau_top = RCB(c0, bias=bias, groups=groups)
        self.dau_mid = RCB(c1, bias=bias, groups=groups)
        self.dau_bot = RCB(c2, bias=bias, groups=groups)
        self.down2 = DownSample(c0, chan_factor)
        self.down4 = nn.Sequential(DownSample(c0, chan_factor), DownSample(c1, chan_factor))
        # Each column has its own upsamplers (`*_1`, `*_2`), unlike the RCBs and SKFFs.
        self.up21_1 = UpSample(c1, chan_factor)
        self.up21_2 = UpSample(c1, chan_factor)
        self.up32_1 = UpSample(c2, chan_factor)
        self.up32_2 = UpSample(c2, chan_factor)
        self.conv_out = nn.Conv2d(n_feat, n_feat, 1, bias=bias)
        self.skff_top = SKFF(c0, 2)
        self.skff_mid = SKFF(c1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, mid, bot = x, self.down2(x), self.down4(x)
        for up32, up21 in ((self.up32_1, self.up21_1), (self.up32_2, self.up21_2)):
            top, mid, bot = self.dau_top(top), self.dau_mid(mid), self.dau_bot(bot)
            mid = self.skff_mid([mid, up32(bot)])
            top = self.skff_top([top, up21(mid)])
        return self.conv_out(top) + x


class RRG(nn.Module):
    """Recursive residual group: `n_MRB` MRBs, a 3×3 conv, + skip."""

    def __init__(self, n_feat: int, n_MRB: int, chan_factor: float, bias: bool = False, groups: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            *(MRB(n_feat, chan_factor, bias, groups) for _ in range(n_MRB)),
            nn.Conv2d(n_feat, n_feat, 3, padding=1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class MIRNetV2(nn.Module):
    """MIRNet-v2 with the official LOL configuration as defaults (5,858,560 parameters).

    Args:
        inp_channels, out_channels: image channels; equal, because of the global residual.
        n_feat: channels of the full-resolution stream; stream j has int(n_feat · chan_factor**j).
        chan_factor: channel growth between streams.
        n_RRG, n_MRB: recursive residual groups, MRBs per group.
        height, width: streams and columns; the official MRB is hard-wired to 3 and 2 (kept for the signature).
        rrg_groups: convolution groups of the RCBs in each RRG (official: 1, 2, 4, 4, hard-coded).
        bias: biases in the RCBs, RRG and outer convolutions; the resamplers and SKFFs never get one (official).
    The official `scale` (unused) and `task="defocus_deblurring"` (dual-pixel input) are not needed here.
    """

    size_multiple = 4  # two ×2 poolings, then bilinear ×2 back: sizes must round-trip
    # The channels_last layout was measured 0.7× as fast on CPU (docs/benchmarks.md): inference keeps NCHW.
    channels_last_slower = True
    upscale = 1
    # 40 dB at tile 32 without overlap; from 8 px of overlap every measured tile is ≥ 62 dB: `benchmarks/
    # tiled_seams.py --model mirnet_v2 --size 256 384 --sweep --overlap 0 8 16 32 64` (docs/benchmarks.md).
    min_tile, min_tile_overlap = 32, 8

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        n_feat: int = 80,
        chan_factor: float = 1.5,
        n_RRG: int = 4,
        n_MRB: int = 2,
        height: int = 3,
        width: int = 2,
        rrg_groups: Sequence[int] = (1, 2, 4, 4),
        bias: bool = False,
    ):
        super().__init__()
        if (height, width) != (3, 2):
            raise ValueError(f"the MIRNet-v2 MRB is built for height=3, width=2, got height={height}, width={width}")
        if len(rrg_groups) != n_RRG:
            raise ValueError(f"rrg_groups={list(rrg_groups)} must give one group count per RRG (n_RRG={n_RRG})")
        if out_channels != inp_channels:
            raise ValueError(
                f"the global residual needs out_channels == inp_channels, got {out_channels}, {inp_channels}"
            )
        # The official argument name is kept (checkpoint configs use it); the interface reads `in_channels`.
        self.in_channels, self.input_kind = inp_channels, kind_of_channels(inp_channels)
        self.conv_in = nn.Conv2d(inp_channels, n_feat, 3, padding=1, bias=bias)
        self.body = nn.Sequential(*(RRG(n_feat, n_MRB, chan_factor, bias, groups) for groups in rrg_groups))
        self.conv_out = nn.Conv2d(n_feat, out_channels, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.size_multiple)
        return crop_to(self.conv_out(self.body(self.conv_in(x))) + x, size)
