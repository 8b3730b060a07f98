"""ABSGN: Attention based Broadly Self-guided Network (Chen, Liang, Du; arXiv:2112.06226).

Transcribed from the official PyTorch code (`paullenwyue/ABSGNet` @ 80933e2, `model.py::ABSGN`); see
docs/specs/absgn.md. Top-down self-guidance in the spirit of SGN, with Haar wavelets instead of
pixel (un)shuffle:

    f1 = feat1(x)                                        1
    f2 = feat2(DWT f1)                                   ½
    f3 = feat3(DWT f2)                                   ¼
    g  = GSA(feat4(DWT f3))                              ⅛
    u3 = feat6([feat5(IDWT g);  MGDB1(f3)])              ¼   coarse guides fine: concatenation
    u2 = feat8([feat7(IDWT u3); MGDB2(f2)])              ½
    d0 = [f1; feat9(IDWT u2)]                            1
    d1 = [d0; MGDB3(d0)],  d2 = [d1; MGDB4(d1)],  output = feat11(feat10(d2))

Module names follow `model.py`. Every conv outside GSA and the channel attention is followed by a PReLU
(one slope each), the last one included; there is no normalisation, no residual to the input and no
sigmoid. All convs are Kaiming-normal with zero biases.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.blocks import ChannelAttention, crop_to, pad_to_multiple
from lle.models.image_statistics import spatial_amax, spatial_mean
from lle.models.interface import kind_of_channels
from lle.models.wavelets import HAAR_BANDS, HaarDWT, HaarIDWT


def _conv_prelu(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Sequential:
    """The official `ConvBlock`: conv with bias and 'same' padding, then a PReLU with one slope."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation), nn.PReLU()
    )


class MGDB(nn.Module):
    """Multi-scale Guided Dense Block: dilated branches (1, 2, 4), dense concatenation, channel attention.

    a4, a2, a1 = branches of `x` at dilation 4, 2, 1
    b1 = conv_d1([x; a1]),  b2 = conv_d2([a4; a2]) (2F channels),  c = conv_d1([b1; b2])
    out = CA(c) with reduction 8. There is no residual inside the block (official code and figure).
    """

    def __init__(self, in_channels: int, num_filter: int, reduction: int = 8):
        super().__init__()
        f = num_filter
        self.branch_d4 = _conv_prelu(in_channels, f, 3, dilation=4)
        self.branch_d2 = _conv_prelu(in_channels, f, 3, dilation=2)
        self.branch_d1 = _conv_prelu(in_channels, f, 3, dilation=1)
        self.fuse_local = _conv_prelu(in_channels + f, f, 3, dilation=1)
        self.fuse_dilated = _conv_prelu(2 * f, 2 * f, 3, dilation=2)
        self.fuse = _conv_prelu(3 * f, f, 3, dilation=1)
        # RCAN-style CA as in the official `ca_layer`: plain ReLU in the bottleneck, biases on.
        self.attention = ChannelAttention(f, reduction, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.fuse_local(torch.cat([x, self.branch_d1(x)], dim=1))
        dilated = self.fuse_dilated(torch.cat([self.branch_d4(x), self.branch_d2(x)], dim=1))
        return self.attention(self.fuse(torch.cat([local, dilated], dim=1)))


class GSA(nn.Module):
    """Global-context spatial attention at the lowest resolution.

    g = (GMP(x) + GAP(x)) / 2 broadcast to h×w;  z = W1 g (C → C/2);
    s = σ(conv5×5([max_c z; mean_c z]));  out = W2 [x; s ⊙ z] (3C/2 → C).

    The official code has no activation or normalisation here (the default). The figure draws
    Conv+PReLU for W1 and W2 and Conv+PReLU+BN in the spatial gate: `act` and `bn` add those.
    Because z is spatially constant, s is constant too except at the 5×5 conv's zero-padded border.
    """

    def __init__(self, channels: int, act: bool = False, bn: bool = False):
        super().__init__()
        hidden = channels // 2
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.act1 = nn.PReLU() if act else nn.Identity()
        spatial = [nn.Conv2d(2, 1, 5, padding=2, bias=False)]
        if act:
            spatial.append(nn.PReLU())
        if bn:
            spatial.append(nn.BatchNorm2d(1))
        self.spatial = nn.Sequential(*spatial)
        self.conv2 = nn.Conv2d(channels + hidden, channels, 1)
        self.act2 = nn.PReLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = (spatial_amax(x) + spatial_mean(x)) / 2
        # A pointwise map of a broadcast vector equals the broadcast of the mapped vector, so W1 runs on
        # the 1×1 vector; the official nearest-resize-then-conv gives the same z.
        z = self.act1(self.conv1(pooled)).expand(-1, -1, *x.shape[-2:])
        gate = torch.sigmoid(self.spatial(torch.cat([z.amax(dim=1, keepdim=True), z.mean(dim=1, keepdim=True)], 1)))
        return self.act2(self.conv2(torch.cat([x, z * gate], dim=1)))


class ABSGN(nn.Module):
    """ABSGN with the official configuration as defaults (8,200,944 parameters).

    Args:
        in_channels: input channels (official: 3, sRGB). With `upscale` this is the packed-RAW
            adaptation below.
        start_channels: width of the full-resolution features (official `--start_channels 32`,
            `dim` in `model.py`); the levels use 2×, 4×, 8× this. Must be even.
        gsa_act: PReLU after each GSA conv, as drawn in the GSA figure (the code has none).
        gsa_bn: BatchNorm in GSA's spatial gate, as drawn in the figure (the code has none).
        upscale: **non-original adaptation** for packed RAW input (e.g. `in_channels=4, upscale=2` for
            a 2×2-packed Bayer image): the last conv outputs 3·upscale² channels and a pixel shuffle
            returns a 3-channel image at `upscale`× the input resolution. 1 (default) is the original.
    """

    size_multiple = 8
    # Its dilated convolutions at ¼ and ⅛ resolution reach far past a small overlap: 31 dB at tile 32 without overlap,
    # 36 at 32 / 8 px, 42.5 at 64 / 16. From tile 128 with overlap 32 every measured tile is ≥ 54 dB, 51 on uniform
    # noise (48 at tile 96: too close to 45): `benchmarks/tiled_seams.py --model absgn --size 256 384 --sweep
    # --overlap 0 8 16 32 64` and `--image noise` (docs/benchmarks.md, "Tiles without seams").
    min_tile, min_tile_overlap = 128, 32

    def __init__(
        self,
        in_channels: int = 3,
        start_channels: int = 32,
        gsa_act: bool = False,
        gsa_bn: bool = False,
        upscale: int = 1,
    ):
        super().__init__()
        if start_channels % 2:
            raise ValueError(f"start_channels must be even (the last IDWT halves it twice), got {start_channels}")
        if upscale < 1:
            raise ValueError(f"upscale must be >= 1, got {upscale}")
        dim = start_channels
        self.upscale = upscale
        # 3 channels are sRGB (official); 4 or 9 are packed RAW (the non-original adaptation above).
        self.in_channels, self.input_kind = in_channels, kind_of_channels(in_channels)
        # The official code flattens pytorch_wavelets' (yl, yh) band-major as [LH, HL, HH, LL] on the
        # way down (`_transformer`) but reads the IDWT input channel-major as (C, 4) with LL first
        # (`_Itransformer`). The learned convs on both sides absorb the mismatch; we keep it for exactness.
        self.dwt = HaarDWT(bands=("LH", "HL", "HH", "LL"), layout="band_major")
        self.idwt = HaarIDWT(bands=HAAR_BANDS, layout="channel_major")

        self.feat1 = _conv_prelu(in_channels, dim, 3)
        self.feat2 = _conv_prelu(4 * dim, 2 * dim, 3)
        self.feat3 = _conv_prelu(8 * dim, 4 * dim, 3)
        self.feat4 = _conv_prelu(16 * dim, 8 * dim, 3)
        self.gsa = GSA(8 * dim, act=gsa_act, bn=gsa_bn)
        # Each IDWT quarters the channels; a 1×1 conv lifts them before the merge with the finer level.
        self.feat5 = _conv_prelu(2 * dim, 4 * dim, 1)
        self.mgdb1 = MGDB(4 * dim, 4 * dim)
        self.feat6 = _conv_prelu(8 * dim, 4 * dim, 3)
        self.feat7 = _conv_prelu(dim, 2 * dim, 1)
        self.mgdb2 = MGDB(2 * dim, 2 * dim)
        self.feat8 = _conv_prelu(4 * dim, 2 * dim, 3)
        self.feat9 = _conv_prelu(dim // 2, dim, 1)
        self.mgdb3 = MGDB(2 * dim, 4 * dim)
        self.mgdb4 = MGDB(6 * dim, 4 * dim)
        self.feat10 = _conv_prelu(10 * dim, 4 * dim, 3)
        self.feat11 = _conv_prelu(4 * dim, 3 * upscale**2, 3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Official init: kaiming_normal_ (fan_in, gain √2) on every Conv2d, CA and GSA included.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.size_multiple)
        f1 = self.feat1(x)
        f2 = self.feat2(self.dwt(f1))
        f3 = self.feat3(self.dwt(f2))
        f4 = self.feat4(self.dwt(f3))
        g = self.gsa(f4)
        u3 = self.feat6(torch.cat([self.feat5(self.idwt(g)), self.mgdb1(f3)], dim=1))
        u2 = self.feat8(torch.cat([self.feat7(self.idwt(u3)), self.mgdb2(f2)], dim=1))
        d0 = torch.cat([f1, self.feat9(self.idwt(u2))], dim=1)
        d1 = torch.cat([d0, self.mgdb3(d0)], dim=1)
        d2 = torch.cat([d1, self.mgdb4(d1)], dim=1)
        out = self.feat11(self.feat10(d2))
        if self.upscale > 1:
            out = F.pixel_shuffle(out, self.upscale)
        return crop_to(out, (size[0] * self.upscale, size[1] * self.upscale))
