"""ALEN: Attention-based network for low-light image enhancement (Zhang, Yan, Zhu, Li, Sun, Zhang; ICME 2020).

Transcribed from the official PyTorch code (`Justones/ALEN` @ 7020c39, `model.py::EnhanceNet`), see
docs/specs/alen.md §2; x is a packed raw image B×C×h×w:

    I    = cat(0.8x, x, 1.2x, 1.5x)                    exposure stack (code only), 4C channels, h×w
    inc  = CAB → conv → conv                            32 × h×w
    enc1 = Down → MAB(32→64)                            64 × h/2
    enc2 = Down → MAB(64→128)                          128 × h/4
    enc3 = Down → MAB(128→256)                         256 × h/8
    dec1 = CAB → conv → conv ([ConvT(enc3); enc2])     128 × h/4   (dec2, dec3 likewise with enc1, inc)
    out  = pixel_shuffle₂(ReLU(conv1×1 32→12 (dec3)))    3 × 2h×2w

CAB is squeeze-and-excitation without reduction; MAB concatenates a non-local (spatial) attention
branch with its input, then applies CAB and two convs. Every 3×3 conv is followed by LeakyReLU(0.2);
there is no normalisation. `Down` is the paper's inverted shuffle layer (default) or the released code's
max-pool.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.blocks import ChannelAttention, crop_to, pad_to_multiple, resize_nearest
from lle.models.image_statistics import global_keys_values
from lle.models.interface import SRGB, kind_of_channels

# The official forward feeds the network four exposures of the input (code only, not in the paper).
EXPOSURE_SCALES = (0.8, 1.0, 1.2, 1.5)


def _conv_lrelu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))


def _avg_pool_at_most(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Non-overlapping average pooling (floor mode, as the official `AvgPool2d(k, stride=k)`).

    On maps smaller than the kernel, where the official code raises, the kernel shrinks to the map's
    side, so small test images and tiles still run; at the sizes the official code accepts the result
    is identical.
    """
    if torch.jit.is_tracing():
        return _traced_avg_pool_at_most(x, kernel)
    size = (min(kernel, x.shape[-2]), min(kernel, x.shape[-1]))
    return F.avg_pool2d(x, size, stride=size)


def _traced_avg_pool_at_most(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """`_avg_pool_at_most` as crop, reshape and mean, for tracing (ONNX, TorchScript) with dynamic sizes.

    `avg_pool2d` takes its kernel as Python ints, which tracing freezes at the example size; here the kernel,
    which shrinks on maps smaller than it, stays a function of the traced size.
    """
    b, c, h, w = x.shape  # 0-dim tensors while tracing, so the ops on them are recorded in the graph
    kh, kw = h.clamp(max=kernel), w.clamp(max=kernel)
    oh, ow = h // kh, w // kw
    blocks = x[:, :, : oh * kh, : ow * kw].reshape(b, c, oh, kh, ow, kw)
    return blocks.mean(dim=(3, 5))


class CABConvBlock(nn.Module):
    """Official `single_block`: CAB → conv3×3 → LReLU → conv3×3 → LReLU (input and decoder blocks)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        # The official `seblock` is Linear C→C, ReLU, Linear C→C, sigmoid on the global average: a
        # squeeze-and-excitation with reduction 1, computed per sample here (the original reshapes to
        # batch 1 and fails on larger batches).
        self.attention = ChannelAttention(in_channels, reduction=1)
        self.conv1 = _conv_lrelu(in_channels, out_channels)
        self.conv2 = _conv_lrelu(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(self.attention(x)))


class NonLocalAttention(nn.Module):
    """Official `nonlocalblock`: embedded-Gaussian non-local attention on a pooled grid.

    u = AvgPool₂(x); queries θ(u) at every pooled position, keys φ(u) and values g(u) further
    average-pooled 4× (the official `upsample` helper pools); softmax(θφᵀ) without 1/√d scaling;
    1×1 conv back to C channels; nearest upsampling to the input size. The embedding width is C/4.

    Args:
        channels: C, the input (and output) channels.
        attention_chunk: number of queries whose attention rows are computed at once. Each softmax row
            depends only on its own query, so chunking is exact; it bounds the attention buffer to
            chunk × keys instead of queries × keys (9 GB at enc1 for a full Sony frame). None computes
            all rows at once.
    """

    def __init__(self, channels: int, attention_chunk: int | None = 4096):
        super().__init__()
        if attention_chunk is not None and attention_chunk < 1:
            raise ValueError(f"attention_chunk must be a positive number of queries or None, got {attention_chunk}")
        inner = channels // 4
        self.attention_chunk = attention_chunk
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.conv = nn.Conv2d(inner, channels, 1)

    def attend(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """softmax(queries · keys) · values for B×N×C′ queries, B×C′×M keys and B×M×C′ values."""
        b, n = queries.shape[:2]
        chunk = min(self.attention_chunk or n, n)
        if chunk == n:
            return torch.softmax(queries @ keys, dim=-1) @ values
        tensors = (queries, keys, values)
        needs_graph = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        if needs_graph or len({t.dtype for t in tensors}) > 1:
            # Autograd keeps every chunk's probabilities for the backward pass, so this only splits the peak.
            return torch.cat([torch.softmax(q @ keys, dim=-1) @ values for q in queries.split(chunk, dim=1)], dim=1)
        # Without a graph, two buffers are reused across chunks: allocating ~200 MB afresh per chunk costs
        # more in page faults than the attention arithmetic (about 2× the time on a full Sony frame).
        m = keys.shape[-1]
        logits_buffer, probs_buffer = queries.new_empty(b * chunk * m), queries.new_empty(b * chunk * m)
        out = queries.new_empty(b, n, values.shape[-1])
        for start in range(0, n, chunk):
            q = queries[:, start : start + chunk]
            rows = q.shape[1]
            logits = logits_buffer[: b * rows * m].view(b, rows, m)  # contiguous, also for the last chunk
            probs = probs_buffer[: b * rows * m].view(b, rows, m)
            torch.softmax(torch.matmul(q, keys, out=logits), dim=-1, out=probs)
            out[:, start : start + rows] = probs @ values
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = _avg_pool_at_most(x, 2)
        b, _, h, w = u.shape
        queries = self.theta(u).flatten(2).transpose(1, 2)
        # Keys and values of the whole image when tiled (a set: their order does not matter).
        keys, values = global_keys_values(_avg_pool_at_most(self.phi(u), 4), _avg_pool_at_most(self.g(u), 4))
        values = values.transpose(1, 2)
        y = self.attend(queries, keys, values).transpose(1, 2).reshape(b, -1, h, w)
        return resize_nearest(self.conv(y), x.shape[-2:])


class MixedAttentionBlock(nn.Module):
    """MAB, official `single_block1`: CAB([NL(x); x]) → conv 2C→C_out → conv C_out→C_out.

    The non-local branch is concatenated with its input, not added: there is no residual path.
    """

    def __init__(self, in_channels: int, out_channels: int, attention_chunk: int | None = 4096):
        super().__init__()
        self.nonlocal_attention = NonLocalAttention(in_channels, attention_chunk)
        self.attention = ChannelAttention(2 * in_channels, reduction=1)
        self.fusion = _conv_lrelu(2 * in_channels, out_channels)
        self.conv1 = _conv_lrelu(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = self.attention(torch.cat([self.nonlocal_attention(x), x], dim=1))
        return self.conv1(self.fusion(mixed))


class InvertedShuffle(nn.Module):
    """The paper's inverted shuffle layer (ISL): space-to-depth by 2, then a 1×1 conv 4C→C (bias, no
    activation), as in the official code's commented-out path.

    The official `space_to_depth` stacks the four phases block-major in the order (0,0), (0,1), (1,1),
    (1,0); `PixelUnshuffle` interleaves them channel-major. The 1×1 conv that follows makes the two
    equivalent up to a permutation of its input weights.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.unshuffle = nn.PixelUnshuffle(2)
        self.conv = nn.Conv2d(4 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.unshuffle(x))


def _icnr(conv: nn.Conv2d, shuffle: int) -> None:
    """Gives the s² output channels that a pixel shuffle by s puts side by side (channel c·s² + k becomes
    position k of channel c) the same initial weights and bias: the first outputs are smooth, not a grid."""
    with torch.no_grad():
        channels = conv.out_channels // shuffle**2
        conv.weight.copy_(conv.weight[:channels].repeat_interleave(shuffle**2, dim=0))
        if conv.bias is not None:
            conv.bias.copy_(conv.bias[:channels].repeat_interleave(shuffle**2, dim=0))


class ALEN(nn.Module):
    """ALEN (2,771,316 parameters with ISL, the default; 2,685,076 with max-pool, the released code).

    Input: a packed raw image B×C×h×w (C = 4 for Bayer, 9 for X-Trans …), already scaled by the
    exposure ratio and not clipped (ALEN's data protocol). Output: B×3×2h×2w sRGB, since the final
    pixel shuffle doubles the packed resolution. With `srgb_input`, the input is a B×3×H×W sRGB image
    and the output is B×3×H×W (1× scale).

    Any size is accepted: the packed input is reflect-padded to a multiple of `size_multiple` (8, three
    2× down-samplings) and the output cropped to twice the original packed size.

    Args:
        in_channels: channels of the packed raw input (official: 4, SID's RGBG Bayer packing). With
            `srgb_input` it must be 3.
        downsample: "isl", the paper's inverted shuffle layer (default, as the paper describes ALEN), or
            "maxpool", `MaxPool2d(2)` as in the released code (and presumably its released weights).
        attention_chunk: queries per chunk in the non-local attention (exact; see `NonLocalAttention`).
            4096 keeps the enc1 attention buffer of a full Sony frame (11,837 keys) near 190 MB instead
            of 9 GB; None computes the full matrix, as the official code does.
        srgb_input: non-original adaptation for sRGB datasets (e.g. LOL): the 3-channel image is
            pixel-unshuffled by 2 into 12 channels, so the final pixel shuffle returns to the input's
            resolution (spec §6.8). Off by default.
        upscale: output resolution / input resolution: 2 for packed Bayer (official), 3 for packed
            X-Trans (a 27-channel head and a shuffle by 3, as SID's Fuji network; non-original), 1 with
            `srgb_input`. None picks 2, or 1 with `srgb_input`.
        out_channels: channels of the output: 3 (sRGB, official). 4 adds a map that a wrapper reads from the
            same head, e.g. the blend weight of `ExposureNormalized(blend=True)` (non-original).
        subpixel_init: "default" (PyTorch's, official) or "icnr": the head's convolution starts with the same
            weights for the s² positions the pixel shuffle interleaves (Aitken et al. 2017), so a briefly trained
            network does not draw an s-pixel grid (non-original; only the initial weights differ).
    """

    size_multiple = 8  # for the packed input; an sRGB input (srgb_input=True) needs 2× this, see `input_multiple`
    # Tiled within 45 dB at every size lle-enhance accepts, 59 dB at the worst (sRGB, tile 32, no overlap; a packed
    # RAW tile gives the U-Net twice the pixels of an sRGB tile of the same size). `benchmarks/tiled_seams.py --model
    # alen --set srgb_input=true in_channels=3 --size 384 576 --sweep --overlap 0 8 16 32 64` (docs/benchmarks.md).
    min_tile, min_tile_overlap = 32, 0

    def __init__(
        self,
        in_channels: int = 4,
        downsample: str = "isl",
        attention_chunk: int | None = 4096,
        srgb_input: bool = False,
        upscale: int | None = None,
        out_channels: int = 3,
        subpixel_init: str = "default",
    ):
        super().__init__()
        upscale = upscale or (1 if srgb_input else 2)
        if srgb_input and upscale != 1:
            raise ValueError(f"with srgb_input the output has the input's size, so upscale=1 (got {upscale})")
        if downsample not in ("isl", "maxpool"):
            raise ValueError(f"downsample must be 'isl' or 'maxpool', got {downsample!r}")
        if srgb_input and in_channels != 3:
            raise ValueError(f"srgb_input expects a 3-channel sRGB image, so in_channels=3 (got {in_channels})")
        if subpixel_init not in ("default", "icnr"):
            raise ValueError(f"subpixel_init must be 'default' or 'icnr', got {subpixel_init!r}")
        if not isinstance(out_channels, int) or out_channels < 3:
            raise ValueError(f"out_channels is 3 (sRGB) or more (extra maps for a wrapper), got {out_channels!r}")
        self.srgb_input, self.upscale = srgb_input, upscale
        self.in_channels = in_channels
        # The packed kind follows the channels (4 Bayer, 9 X-Trans); with srgb_input the 3 channels are sRGB.
        self.input_kind = SRGB if srgb_input else kind_of_channels(in_channels)
        shuffle = 2 if srgb_input else upscale
        packed_channels = 4 * in_channels if srgb_input else in_channels

        def down(channels: int) -> nn.Module:
            return InvertedShuffle(channels) if downsample == "isl" else nn.MaxPool2d(2)

        stacked = len(EXPOSURE_SCALES) * packed_channels
        self.inc = CABConvBlock(stacked, 32)
        self.enc1 = nn.Sequential(down(32), MixedAttentionBlock(32, 64, attention_chunk))
        self.enc2 = nn.Sequential(down(64), MixedAttentionBlock(64, 128, attention_chunk))
        self.enc3 = nn.Sequential(down(128), MixedAttentionBlock(128, 256, attention_chunk))
        self.up1 = nn.ConvTranspose2d(256, 128, 2, stride=2)
        self.dec1 = CABConvBlock(256, 128)
        self.up2 = nn.ConvTranspose2d(128, 64, 2, stride=2)
        self.dec2 = CABConvBlock(128, 64)
        self.up3 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec3 = CABConvBlock(64, 32)
        # SID's head: 3·s² channels (12 for s = 2), ReLU, then depth-to-space to 3 channels at s× the resolution.
        self.out_channels = out_channels
        self.out = nn.Sequential(
            nn.Conv2d(32, out_channels * shuffle**2, 1), nn.ReLU(inplace=True), nn.PixelShuffle(shuffle)
        )
        if subpixel_init == "icnr":
            _icnr(self.out[0], shuffle)

    @property
    def input_multiple(self) -> int:
        """The multiple the tensor passed to `forward` is padded to (16 for sRGB: 8 after unshuffling)."""
        return 2 * self.size_multiple if self.srgb_input else self.size_multiple

    def enhance_packed(self, x: torch.Tensor) -> torch.Tensor:
        """The official network on a packed input whose sides are multiples of 8."""
        inc = self.inc(torch.cat([s * x for s in EXPOSURE_SCALES], dim=1))
        enc1 = self.enc1(inc)
        enc2 = self.enc2(enc1)
        enc3 = self.enc3(enc2)
        d = self.dec1(torch.cat([self.up1(enc3), enc2], dim=1))
        d = self.dec2(torch.cat([self.up2(d), enc1], dim=1))
        d = self.dec3(torch.cat([self.up3(d), inc], dim=1))
        return self.out(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.input_multiple)
        if self.srgb_input:
            return crop_to(self.enhance_packed(F.pixel_unshuffle(x, 2)), (h, w))
        return crop_to(self.enhance_packed(x), (self.upscale * h, self.upscale * w))
