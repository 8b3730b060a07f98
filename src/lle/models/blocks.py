"""Building blocks and helpers shared by several networks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from lle.models.image_statistics import spatial_mean


def reflect_pad_fits(size: int, multiple: int) -> bool:
    """Whether a side of `size` pixels can be reflect-padded up to a multiple of `multiple` (the padding must be
    shorter than the side it mirrors)."""
    return (-size) % multiple < size


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad `x` (…×H×W) at the bottom/right so H and W are multiples of `multiple`.

    Returns the padded tensor and the original (H, W) for `crop_to`. Reflect padding avoids the dark
    border that zero padding would create in a low-light image.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    if mode == "reflect" and not (reflect_pad_fits(h, multiple) and reflect_pad_fits(w, multiple)):
        raise ValueError(
            f"image of {h}x{w} pixels is too small to reflect-pad to a multiple of {multiple}; "
            f"use an image of at least {multiple}x{multiple} pixels"
        )
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Undo `pad_to_multiple` (for outputs at the input's resolution)."""
    h, w = size
    return x[..., :h, :w]


class ChannelAttention(torch.nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al. 2018), computed per sample.

    global average pool → 1×1 conv C→C/r → `act` → 1×1 conv C/r→C → sigmoid → rescale the input.
    The pool is `spatial_mean`, so tiles pool over the whole image (`lle.models.image_statistics`).
    `act` is a module instance, so a network can pass a shared or a custom activation.
    """

    def __init__(self, channels: int, reduction: int, bias: bool = True, act: torch.nn.Module | None = None):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.squeeze = torch.nn.Conv2d(channels, hidden, 1, bias=bias)
        self.act = act if act is not None else torch.nn.ReLU(inplace=True)
        self.excite = torch.nn.Conv2d(hidden, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.excite(self.act(self.squeeze(spatial_mean(x))))
        return x * torch.sigmoid(weights)


class TFSameConv2d(torch.nn.Conv2d):
    """3×3 convolution with TensorFlow's 'SAME' padding.

    For stride 2 on an even input TF pads only the bottom/right row and column, whereas `padding=1`
    pads all sides: the output size is the same but the sampling grid is shifted by one pixel, which
    matters when porting the official TF weights.

    Traceable with dynamic sizes (ONNX, TorchScript): see `_traced_forward`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing():
            return self._traced_forward(x)
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride)

    def _traced_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same function, with the padding a function of the traced size.

        Python's `math.ceil` on the sizes would be frozen by tracing at the example size; for stride 2 the
        padding depends on the parity of the size (Retinex-Net's RelightNet), so a frozen graph would shift
        the sampling grid at sizes of the other parity. Under tracing the sizes are traced values, and tensor
        ops keep the padding a function of them.
        """
        if self.stride == (1, 1) and all(k % 2 for k in self.kernel_size):
            # 'SAME' is k // 2 on every side at any size: one plain padded conv (one ONNX Conv, no Pad).
            return F.conv2d(x, self.weight, self.bias, 1, tuple(k // 2 for k in self.kernel_size))
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            # `size` is a 0-dim tensor while tracing, so these are tensor ops, recorded in the graph.
            total = (((size + s - 1) // s - 1) * s + k - size).clamp(min=0)  # (ceil(size/s) - 1)·s + k − size
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride)


def resize_nearest(x: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """PyTorch's `nearest` resize of B×C×H×W `x` to `size`, also when exported to ONNX.

    Eager and TorchScript use `F.interpolate(mode="nearest")` itself (source index floor(dst · in/out)), which
    TF1's `resize_nearest_neighbor` (align_corners=False, half_pixel_centers=False) matches. ONNX's Resize
    computes dst / (out / in) instead; the two roundings pick different source pixels at some sizes
    (GLADNet's output then moves by up to ~0.08), so while exporting to ONNX the graph gathers PyTorch's
    indices (`gather_nearest`).
    """
    if torch.onnx.is_in_onnx_export():
        return gather_nearest(x, size)
    return F.interpolate(x, size=size, mode="nearest")


def gather_nearest(x: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """PyTorch's `nearest` resize as gathers: source index floor(dst · (in / out)) in float32, as PyTorch
    computes it. The sizes stay traced values under tracing, so the graph keeps them dynamic."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    for dim, out in zip((-2, -1), size):
        source = x.shape[dim]
        scale = torch.as_tensor(source, dtype=torch.float32) / torch.as_tensor(out, dtype=torch.float32)
        index = (torch.arange(out, dtype=torch.float32, device=x.device) * scale).floor().long()
        x = x.index_select(dim, index.clamp(max=torch.as_tensor(source, device=x.device) - 1))
    return x


def tf_default_init(module: torch.nn.Module) -> None:
    """`tf.layers.conv2d` defaults for every convolution in `module`: Glorot-uniform kernels, zero biases.

    For networks transcribed from TensorFlow graphs (GLADNet, Retinex-Net)."""
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
