"""MIRNet: Learning Enriched Features for Real Image Restoration and Enhancement (Zamir et al., ECCV 2020).

Transcribed from the official PyTorch code (`swz30/MIRNet` @ 6934e83, `networks/MIRNet_model.py`, unchanged
since 26e0be1), the reference for every default here (docs/specs/mirnet.md §1.2):

    x ─ conv_in ─ RRG ─ RRG ─ RRG ─ conv_out ─(+x)─►           RRG  = [MSRB, MSRB, conv3×3] + skip
    MSRB (the paper's MRB), three streams at 1, ½, ¼ resolution with 64, 128, 256 channels:
        column 1: DAU₀ → down → DAU₁ → down → DAU₂
        column 2: every stream resized to every other, fused by SKFF_j, then DAU_j   (the "mesh")
        output:   streams 1, 2 upsampled to stream 0, fused by SKFF₀, conv3×3, + skip

No convolution has a bias and there is no normalisation; the learnable scalars outside convolutions are
PReLU slopes. Two official quirks are kept by default (31,787,419 parameters), as the checkpoints have them:
  * `[DAU(C)] * width` puts one DAU instance in both columns, so the columns share weights.
  * `act=nn.PReLU()` is a default argument of DAU, so a single PReLU slope serves all 36 DAU uses (and, in
    the official code, every model in the process). Here that PReLU belongs to the model instance (`dau_act`).
`share_dau_columns=False` gives the paper's independent DAUs, each with its own PReLU (42,239,298).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.blocks import ChannelAttention, crop_to, pad_to_multiple
from lle.models.image_statistics import spatial_mean
from lle.models.interface import kind_of_channels


def _conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class BlurPool(nn.Module):
    """Antialiased stride-2 subsampling (Zhang, ICML 2019): depthwise [1,2,1]ᵀ[1,2,1]/16, reflect pad 1.

    The filter is a buffer named `filt`, as in antialiased-cnns, because the official checkpoints store it.
    """

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = taps[:, None] * taps[None, :]
        self.register_buffer("filt", (kernel / kernel.sum()).expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class SpatialAttention(nn.Module):
    """cat[max over channels, mean over channels] → conv5×5 (no bias, no BN, no ReLU) → sigmoid → rescale."""

    def __init__(self, kernel_size: int = 5):
        super().__init__()
        self.conv = _conv(2, 1, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class DAU(nn.Module):
    """Dual attention unit: conv-act-conv, then spatial and channel attention in parallel, 1×1 fusion, + x.

    `act` is the model's shared PReLU (None: a PReLU of its own). The channel attention keeps its own ReLU,
    as in the official `ca_layer`.
    """

    def __init__(
        self, n_feat: int, act: nn.Module | None = None, kernel_size: int = 3, reduction: int = 8, bias: bool = False
    ):
        super().__init__()
        self.conv1 = _conv(n_feat, n_feat, kernel_size, bias)
        self.act = act if act is not None else nn.PReLU()
        self.conv2 = _conv(n_feat, n_feat, kernel_size, bias)
        self.spatial_attention = SpatialAttention()
        self.channel_attention = ChannelAttention(n_feat, reduction, bias=bias)
        self.fuse = nn.Conv2d(2 * n_feat, n_feat, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.conv2(self.act(self.conv1(x)))
        res = torch.cat([self.spatial_attention(res), self.channel_attention(res)], dim=1)
        return self.fuse(res) + x


class SKFF(nn.Module):
    """Selective kernel feature fusion: softmax attention across the inputs, per channel.

    U = Σ inputs; z = PReLU(1×1 C→d)(GAP(U)) with d = max(C/8, 4); one 1×1 d→C per input; softmax over inputs.
    """

    def __init__(self, in_channels: int, height: int = 3, reduction: int = 8, bias: bool = False):
        super().__init__()
        d = max(int(in_channels / reduction), 4)
        self.squeeze = nn.Conv2d(in_channels, d, 1, bias=bias)
        self.act = nn.PReLU()
        self.select = nn.ModuleList(nn.Conv2d(d, in_channels, 1, bias=bias) for _ in range(height))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        feats = torch.stack(inputs, dim=1)  # B × height × C × H × W
        z = self.act(self.squeeze(spatial_mean(feats.sum(dim=1))))
        weights = torch.softmax(torch.stack([fc(z) for fc in self.select], dim=1), dim=1)
        return (feats * weights).sum(dim=1)


class ResidualDownSample(nn.Module):
    """½ resolution, 2× channels: [1×1, PReLU, 3×3, PReLU, blur-pool, 1×1 C→2C] + [blur-pool, 1×1 C→2C]."""

    def __init__(self, channels: int, bias: bool = False):
        super().__init__()
        self.top = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=bias),
            nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
            nn.PReLU(),
            BlurPool(channels),
            nn.Conv2d(channels, 2 * channels, 1, bias=bias),
        )
        self.bot = nn.Sequential(BlurPool(channels), nn.Conv2d(channels, 2 * channels, 1, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(x) + self.bot(x)


class ResidualUpSample(nn.Module):
    """2× resolution, ½ channels: [1×1, PReLU, transposed 3×3 s2, PReLU, 1×1 C→C/2] + [bilinear, 1×1 C→C/2]."""

    def __init__(self, channels: int, bias: bool = False):
        super().__init__()
        self.top = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=bias),
            nn.PReLU(),
            nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1, bias=bias),
            nn.PReLU(),
            nn.Conv2d(channels, channels // 2, 1, bias=bias),
        )
        self.bot = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(channels, channels // 2, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(x) + self.bot(x)


class DownSample(nn.Module):
    """Resolution ÷ 2**steps, channels × 2**steps: a chain of `ResidualDownSample`."""

    def __init__(self, channels: int, steps: int):
        super().__init__()
        self.body = nn.Sequential(*(ResidualDownSample(channels * 2**i) for i in range(steps)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UpSample(nn.Module):
    """Resolution × 2**steps, channels ÷ 2**steps: a chain of `ResidualUpSample`."""

    def __init__(self, channels: int, steps: int):
        super().__init__()
        self.body = nn.Sequential(*(ResidualUpSample(channels // 2**i) for i in range(steps)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MSRB(nn.Module):
    """Multi-scale residual block (the paper's MRB) with `height` streams and `width` DAU columns.

    Stream j has `n_feat * 2**j` channels at 1/2**j resolution. Resamplers are keyed by stream index:
    `down["0_to_2"]`, `up["2_to_0"]`; `output_up[str(k)]` brings stream k back for the final fusion.
    """

    def __init__(
        self,
        n_feat: int,
        height: int,
        width: int,
        act: nn.Module | None,
        bias: bool = False,
        share_dau_columns: bool = True,
    ):
        super().__init__()
        self.height, self.width, self.share_dau_columns = height, width, share_dau_columns
        channels = [n_feat * 2**j for j in range(height)]
        self.daus = nn.ModuleList(
            nn.ModuleList(DAU(c, act) for c in channels) for _ in range(1 if share_dau_columns else width)
        )
        # Separate instances per (from, to) pair; column 1 reuses the mesh's 0→1 and 1→2 downsamplers.
        self.down = nn.ModuleDict(
            {f"{j}_to_{k}": DownSample(channels[j], k - j) for j in range(height) for k in range(j + 1, height)}
        )
        self.up = nn.ModuleDict({f"{k}_to_{j}": UpSample(channels[k], k - j) for k in range(height) for j in range(k)})
        self.output_up = nn.ModuleDict({str(k): UpSample(channels[k], k) for k in range(1, height)})
        self.skff = nn.ModuleList(SKFF(c, height) for c in channels)
        # Only this conv honours `bias` in the official MSRB (DAU, SKFF and resamplers use their defaults).
        self.conv_out = _conv(n_feat, n_feat, 3, bias)

    def _dau(self, column: int, stream: int) -> DAU:
        return self.daus[0 if self.share_dau_columns else column][stream]

    def _resize(self, x: torch.Tensor, src: int, dst: int) -> torch.Tensor:
        if src == dst:
            return x
        return self.down[f"{src}_to_{dst}"](x) if src < dst else self.up[f"{src}_to_{dst}"](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        streams = []
        h = x
        for j in range(self.height):  # column 1: sequential downsampling
            h = self._dau(0, j)(h if j == 0 else self.down[f"{j - 1}_to_{j}"](h))
            streams.append(h)
        for column in range(1, self.width):  # mesh: each stream fuses all streams of the previous column
            fused = [self.skff[j]([self._resize(s, k, j) for k, s in enumerate(streams)]) for j in range(self.height)]
            streams = [self._dau(column, j)(f) for j, f in enumerate(fused)]
        # The official code reuses the stream-0 SKFF (same weights) for the final aggregation.
        out = self.skff[0]([streams[0]] + [self.output_up[str(k)](streams[k]) for k in range(1, self.height)])
        return self.conv_out(out) + x


class RRG(nn.Module):
    """Recursive residual group: `n_MSRB` MSRBs, a 3×3 conv (always bias-free officially), + skip."""

    def __init__(
        self,
        n_feat: int,
        n_MSRB: int,
        height: int,
        width: int,
        act: nn.Module | None,
        bias: bool = False,
        share_dau_columns: bool = True,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(MSRB(n_feat, height, width, act, bias, share_dau_columns) for _ in range(n_MSRB))
        self.conv = _conv(n_feat, n_feat, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return self.conv(h) + x


class MIRNet(nn.Module):
    """MIRNet with the official configuration as defaults (31,787,419 parameters).

    Args:
        in_channels, out_channels: image channels; equal, because of the global residual.
        n_feat: channels of the full-resolution stream (stream j has n_feat·2**j).
        kernel_size: kernel of `conv_in` / `conv_out` (the blocks use 3×3 as in the official code).
        stride: channel factor between streams. The official resamplers always double the channels, so
            only 2 works; kept for the official signature.
        n_RRG, n_MSRB: recursive residual groups, MSRBs per group.
        height, width: streams and DAU columns per MSRB.
        bias: biases in `conv_in`, `conv_out` and each MSRB's output conv only, as in the official code.
        share_dau_columns: the official DAU sharing (default): one DAU per stream serves every column and one
            PReLU serves every DAU. False makes every DAU its own module with its own PReLU, as the paper
            describes (42,239,298 parameters: the official checkpoint's tensors, each counted once).
    """

    size_multiple = 4  # 2**(height - 1): the deepest stream is at ¼ resolution
    upscale = 1
    # 38 dB at tile 32 without overlap; from 8 px of overlap every measured tile is ≥ 64.7 dB: `benchmarks/
    # tiled_seams.py --model mirnet --size 192 288 --sweep --tiles 32 48 64 96 128 --overlap 0 8 16 32`.
    min_tile, min_tile_overlap = 32, 8

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        n_feat: int = 64,
        kernel_size: int = 3,
        stride: int = 2,
        n_RRG: int = 3,
        n_MSRB: int = 2,
        height: int = 3,
        width: int = 2,
        bias: bool = False,
        share_dau_columns: bool = True,
    ):
        super().__init__()
        if stride != 2:
            raise ValueError(f"stride={stride}: the official resampling blocks double the channels, so only 2 works")
        if out_channels != in_channels:
            raise ValueError(
                f"the global residual needs out_channels == in_channels, got {out_channels}, {in_channels}"
            )
        self.in_channels, self.input_kind = in_channels, kind_of_channels(in_channels)
        self.size_multiple = 2 ** (height - 1)
        self.conv_in = _conv(in_channels, n_feat, kernel_size, bias)
        # One slope for every DAU of this model instance (see the module docstring).
        self.dau_act = nn.PReLU() if share_dau_columns else None
        self.groups = nn.ModuleList(
            RRG(n_feat, n_MSRB, height, width, self.dau_act, bias, share_dau_columns) for _ in range(n_RRG)
        )
        self.conv_out = _conv(n_feat, out_channels, kernel_size, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.size_multiple)
        h = self.conv_in(x)
        for group in self.groups:
            h = group(h)
        return crop_to(self.conv_out(h) + x, size)
