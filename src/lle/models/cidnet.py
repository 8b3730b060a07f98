"""HVI-CIDNet: the HVI colour space and the Colour and Intensity Decoupling Network (Yan et al., CVPR 2025).

Written to match the official code (`Fediory/HVI-CIDNet` @ eb43d7d, `net/CIDNet.py`, `net/HVI_transform.py`,
`net/LCA.py`, `net/transformer_utils.py`); see docs/specs/cidnet.md. The network works in the HVI space (§1):

    hvi = HVI(x)                           H, V: polarised hue·saturation scaled by C_k(I); I = max(R, G, B)
    HV branch: the whole hvi map  → encoder  1, ½, ¼, ⅛  → decoder → 2 maps (H, V)      (U-Nets with skips,
    I  branch: the I channel only → encoder  1, ½, ¼, ⅛  → decoder → 1 map  (I)          bilinear resampling)
    six LCA pairs (cross attention) exchange information between the branches at ½, ¼, ⅛, ⅛, ¼, ½
    output = HVI⁻¹([H, V, I] + hvi)

Module names are the official ones, so an official state dict loads key for key (`lle.models.official_cidnet`). Nothing
has a bias except the LayerNorms; every weight keeps PyTorch's default initialisation, as in the official code.
1,975,569 parameters (measured on the official code; the paper says 1.88 M, §3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.blocks import crop_to, pad_to_multiple
from lle.models.interface import SRGB

EPS = 1e-8  # the official transform's ε, in every division, root and atan2


class HVITransform(nn.Module):
    """RGB ↔ HVI (docs/specs/cidnet.md §1), the official `RGB_HVI` with its one parameter `density_k`.

    `density_k` is the exponent of the intensity collapse C_k(I) = (sin(πI/2) + ε)^k; the paper writes the
    k-th *root*, so the official k (initialised 0.2) is the reciprocal of the paper's. The forward transform is
    differentiable in k; the inverse uses k's current value as a constant, as the official inverse reads a
    Python float saved by the last forward call (`this_k = k.item()`).

    `inverse(hvi, gated, gated2)` applies the official test-time gains: `gated` multiplies the saturation by
    `alpha_s` (official default 1.3) before it is clipped to [0, 1]; `gated2` multiplies the RGB result by
    `alpha_i` (the official `alpha`, default 1.0). The official transform holds both switches off by default.
    """

    def __init__(self, alpha_s: float = 1.3, alpha_i: float = 1.0):
        super().__init__()
        self.density_k = nn.Parameter(torch.full([1], 0.2))
        self.alpha_s, self.alpha_i = alpha_s, alpha_i

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb_to_hvi(rgb, self.density_k)

    def inverse(self, hvi: torch.Tensor, gated: bool = False, gated2: bool = False) -> torch.Tensor:
        h_map, v_map = hvi[:, 0].clamp(-1, 1), hvi[:, 1].clamp(-1, 1)
        value = hvi[:, 2].clamp(0, 1)
        collapse = (torch.sin(value * (0.5 * math.pi)) + EPS) ** self.density_k.detach()
        h_map = (h_map / (collapse + EPS)).clamp(-1, 1)
        v_map = (v_map / (collapse + EPS)).clamp(-1, 1)
        hue = (torch.atan2(v_map + EPS, h_map + EPS) / (2 * math.pi)) % 1
        saturation = torch.sqrt(h_map**2 + v_map**2 + EPS)
        if gated:
            saturation = saturation * self.alpha_s
        saturation = saturation.clamp(0, 1)
        rgb = torch.stack(hsv_to_rgb(hue, saturation, value), dim=1)
        return rgb * self.alpha_i if gated2 else rgb


def rgb_to_hvi(rgb: torch.Tensor, density_k: torch.Tensor | float) -> torch.Tensor:
    """B×3×H×W RGB → HVI with the intensity-collapse exponent `density_k` (the official `HVIT`)."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    value, low = rgb.amax(dim=1), rgb.amin(dim=1)
    spread = value - low + EPS
    # HSV hue in sextants, with the official precedence on ties: red, then green, then blue (the official code
    # assigns blue, green, red in turn, each overwriting); grey pixels get hue 0.
    hue = 4.0 + (r - g) / spread
    hue = torch.where(g == value, 2.0 + (b - r) / spread, hue)
    hue = torch.where(r == value, ((g - b) / spread) % 6, hue)
    hue = torch.where(low == value, torch.zeros_like(hue), hue) / 6.0
    saturation = (value - low) / (value + EPS)
    saturation = torch.where(value == 0, torch.zeros_like(saturation), saturation)
    hue, saturation, value = hue[:, None], saturation[:, None], value[:, None]
    radius = (torch.sin(value * (0.5 * math.pi)) + EPS) ** density_k * saturation  # C_k(I) · S
    angle = 2.0 * math.pi * hue
    return torch.cat([radius * torch.cos(angle), radius * torch.sin(angle), value], dim=1)


def hsv_to_rgb(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The textbook sextant formula as the official inverse writes it (hue in [0, 1)); a sextant index outside
    0…5 (h·6 rounding up to 6) gives black, as there."""
    sextant = torch.floor(hue * 6.0)
    f = hue * 6.0 - sextant
    p = value * (1.0 - saturation)
    q = value * (1.0 - f * saturation)
    t = value * (1.0 - (1.0 - f) * saturation)
    table = ((value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q))
    channels = []
    for c in range(3):
        out = torch.zeros_like(hue)
        for index, row in enumerate(table):
            out = torch.where(sextant == index, row[c], out)
        channels.append(out)
    return tuple(channels)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a B×C×H×W map (the official `LayerNorm`, channels_first, ε = 1e-6)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Bilinear(nn.Module):
    """`nn.UpsamplingBilinear2d`: bilinear with align_corners=True, also for the ½ downsampling."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=True)


class NormDownsample(nn.Module):
    """conv3×3 → bilinear ½ → PReLU (→ LayerNorm with `use_norm`, off in the released models)."""

    def __init__(self, in_channels: int, out_channels: int, use_norm: bool = False):
        super().__init__()
        self.use_norm = use_norm
        if use_norm:
            self.norm = LayerNorm2d(out_channels)
        self.prelu = nn.PReLU()
        self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), Bilinear(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.down(x))
        return self.norm(x) if self.use_norm else x


class NormUpsample(nn.Module):
    """conv3×3 → bilinear ×2, concatenated with the skip, 1×1 conv → PReLU (→ LayerNorm with `use_norm`)."""

    def __init__(self, in_channels: int, out_channels: int, use_norm: bool = False):
        super().__init__()
        self.use_norm = use_norm
        if use_norm:
            self.norm = LayerNorm2d(out_channels)
        self.prelu = nn.PReLU()
        self.up_scale = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), Bilinear(2))
        self.up = nn.Conv2d(out_channels * 2, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.up(torch.cat([self.up_scale(x), skip], dim=1)))
        return self.norm(x) if self.use_norm else x


class CAB(nn.Module):
    """Cross attention block: queries from `x`, keys and values from `y`, attention across channels
    (Restormer's transposed attention): per head, softmax(τ · q̂ k̂ᵀ) v with q̂, k̂ unit-normalised over the pixels."""

    def __init__(self, dim: int, num_heads: int, bias: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=bias)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias)
        self.kv = nn.Conv2d(dim, dim * 2, 1, bias=bias)
        self.kv_dwconv = nn.Conv2d(dim * 2, dim * 2, 3, padding=1, groups=dim * 2, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.q_dwconv(self.q(x))
        k, v = self.kv_dwconv(self.kv(y)).chunk(2, dim=1)
        q, k, v = (t.reshape(b, self.num_heads, c // self.num_heads, h * w) for t in (q, k, v))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attention = torch.softmax((q @ k.transpose(-2, -1)) * self.temperature, dim=-1)
        return self.project_out((attention @ v).reshape(b, c, h, w))


class IEL(nn.Module):
    """Intensity enhancement layer: 1×1 conv to 2·⌊2.66·dim⌋, depthwise 3×3, split, each half x + tanh(dwconv(x)),
    their product, 1×1 conv back to dim (the HV branch uses the same layer, the paper's CDL)."""

    def __init__(self, dim: int, ffn_expansion_factor: float = 2.66, bias: bool = False):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.dwconv1 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=bias)
        self.dwconv2 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        x1 = torch.tanh(self.dwconv1(x1)) + x1
        x2 = torch.tanh(self.dwconv2(x2)) + x2
        return self.project_out(x1 * x2)


class LCA(nn.Module):
    """Lighten cross attention (official `HV_LCA` / `I_LCA`): x + CAB(norm x, norm y), then the IEL on its norm.

    One LayerNorm normalises both inputs. The I branch's block adds the IEL's output to its input; the HV branch's
    block returns the IEL's output alone (`residual=False`), as in the official code.
    """

    def __init__(self, dim: int, num_heads: int, residual: bool, bias: bool = False):
        super().__init__()
        self.residual = residual
        self.norm = LayerNorm2d(dim)
        self.gdfn = IEL(dim)
        self.ffn = CAB(dim, num_heads, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x + self.ffn(self.norm(x), self.norm(y))
        return x + self.gdfn(self.norm(x)) if self.residual else self.gdfn(self.norm(x))


def _replicate_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    # Index 1 is the conv, as in the official Sequential (keys `*.1.weight`).
    return nn.Sequential(nn.ReplicationPad2d(1), nn.Conv2d(in_channels, out_channels, 3, bias=False))


class CIDNet(nn.Module):
    """HVI-CIDNet with the official configuration (1,975,569 parameters; docs/specs/cidnet.md §2).

    Args:
        channels, heads, norm: the official constructor's widths (36, 36, 72, 144), attention heads (1, 2, 4, 8)
            and LayerNorm-after-resampling switch (off), as the Hugging Face `config.json` stores them.
        gated, gated2, alpha_s, alpha_i, gamma: test-time options of the official `eval.py`, applied in eval mode
            only (training is ungated, as in `train.py`). The defaults are its LOL-v1 setting (`--lol`): saturation
            × `alpha_s` = 1.3 (`gated`), no intensity gain, input unchanged. Other official settings: LOL-v2-real
            `gated=False, gated2=True, alpha_i=0.84` (best_GT_mean; best_PSNR 0.8, best_SSIM 0.82); LOL-v2-syn,
            SICE, FiveK, LOL-blur, SID: both off; unpaired sets `gated=False, gated2=True` with the user's
            `alpha_i`; `eval_hf.py` sets both gates with `alpha_s = alpha_i = 1` unless told. `gamma` raises the
            input to that power first (`--gamma`, default 1).
        paper_wiring: False (default) wires the blocks as the official code does, which the maintainers call a
            legacy slip that all released weights were trained with (issues #60, #91, #104): the third encoder
            stage takes the features from *before* the second LCA pair, and I_LCA5's output is unused. True feeds
            those LCA outputs on as intended; same parameters and keys, a different function (§2.3).
    """

    size_multiple = 8  # three bilinear halvings, each followed by a ×2 up-sampling concatenated with its skip
    in_channels, input_kind, upscale = 3, SRGB, 1
    # Not tiled: its channel attention normalises over all pixels and its align_corners resampling depends on the
    # map's size, so a tile computes both differently from the whole image, at any overlap: 42–48 dB up to tile
    # 384 (43 dB at 256 with briefly trained weights). `benchmarks/tiled_seams.py --model cidnet --size 512 768
    # --sweep --tiles 192 256 384 512 --overlap 32 64` (docs/benchmarks.md, "Tiles without seams").
    tileable = False

    def __init__(
        self,
        channels: Sequence[int] = (36, 36, 72, 144),
        heads: Sequence[int] = (1, 2, 4, 8),
        norm: bool = False,
        gated: bool = True,
        gated2: bool = False,
        alpha_s: float = 1.3,
        alpha_i: float = 1.0,
        gamma: float = 1.0,
        paper_wiring: bool = False,
    ):
        super().__init__()
        ch1, ch2, ch3, ch4 = channels
        _, head2, head3, head4 = heads
        for width, head in ((ch2, head2), (ch3, head3), (ch4, head4)):
            if width % head:
                raise ValueError(f"CIDNet: {width} channels cannot be split into {head} attention heads")
        self.gated, self.gated2, self.gamma, self.paper_wiring = gated, gated2, gamma, paper_wiring

        self.HVE_block0 = _replicate_conv(3, ch1)  # the HV branch reads all three HVI maps (paper §10.6)
        self.HVE_block1 = NormDownsample(ch1, ch2, norm)
        self.HVE_block2 = NormDownsample(ch2, ch3, norm)
        self.HVE_block3 = NormDownsample(ch3, ch4, norm)
        self.HVD_block3 = NormUpsample(ch4, ch3, norm)
        self.HVD_block2 = NormUpsample(ch3, ch2, norm)
        self.HVD_block1 = NormUpsample(ch2, ch1, norm)
        self.HVD_block0 = _replicate_conv(ch1, 2)

        self.IE_block0 = _replicate_conv(1, ch1)
        self.IE_block1 = NormDownsample(ch1, ch2, norm)
        self.IE_block2 = NormDownsample(ch2, ch3, norm)
        self.IE_block3 = NormDownsample(ch3, ch4, norm)
        self.ID_block3 = NormUpsample(ch4, ch3, norm)
        self.ID_block2 = NormUpsample(ch3, ch2, norm)
        self.ID_block1 = NormUpsample(ch2, ch1, norm)
        self.ID_block0 = _replicate_conv(ch1, 1)

        for branch, residual in (("HV", False), ("I", True)):
            for index, (width, head) in enumerate(
                [(ch2, head2), (ch3, head3), (ch4, head4), (ch4, head4), (ch3, head3), (ch2, head2)], start=1
            ):
                setattr(self, f"{branch}_LCA{index}", LCA(width, head, residual=residual))

        self.trans = HVITransform(alpha_s=alpha_s, alpha_i=alpha_i)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.size_multiple)  # reflect, bottom/right: the official eval_hf.py padding
        testing = not self.training
        if testing and self.gamma != 1:
            x = x**self.gamma
        hvi = self.trans(x)

        i0 = self.IE_block0(hvi[:, 2:3])
        hv0 = self.HVE_block0(hvi)
        i1, hv1 = self.IE_block1(i0), self.HVE_block1(hv0)
        i_skip1, hv_skip1 = self.I_LCA1(i1, hv1), self.HV_LCA1(hv1, i1)  # each pair reads the other's input
        i2, hv2 = self.IE_block2(i_skip1), self.HVE_block2(hv_skip1)
        i_skip2, hv_skip2 = self.I_LCA2(i2, hv2), self.HV_LCA2(hv2, i2)
        if self.paper_wiring:
            i3, hv3 = self.IE_block3(i_skip2), self.HVE_block3(hv_skip2)
        else:  # official: the stage below takes the features from before LCA2 (whose outputs are only the skips)
            i3, hv3 = self.IE_block3(i2), self.HVE_block3(hv2)
        i3, hv3 = self.I_LCA3(i3, hv3), self.HV_LCA3(hv3, i3)
        i3, hv3 = self.I_LCA4(i3, hv3), self.HV_LCA4(hv3, i3)

        i2, hv2 = self.ID_block3(i3, i_skip2), self.HVD_block3(hv3, hv_skip2)
        # Official: I_LCA5's output is dropped (not computed here: it cannot change the result) and ID_block2 takes
        # the features from before it.
        i2, hv2 = (self.I_LCA5(i2, hv2) if self.paper_wiring else i2), self.HV_LCA5(hv2, i2)
        i1, hv1 = self.ID_block2(i2, i_skip1), self.HVD_block2(hv2, hv_skip1)
        i1, hv1 = self.I_LCA6(i1, hv1), self.HV_LCA6(hv1, i1)
        i_out = self.ID_block0(self.ID_block1(i1, i0))
        hv_out = self.HVD_block0(self.HVD_block1(hv1, hv0))

        out = torch.cat([hv_out, i_out], dim=1) + hvi
        rgb = self.trans.inverse(out, gated=testing and self.gated, gated2=testing and self.gated2)
        return crop_to(rgb, size)
