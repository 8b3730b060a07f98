"""Building blocks and helpers shared by several networks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad `x` (…×H×W) at the bottom/right so H and W are multiples of `multiple`.

    Returns the padded tensor and the original (H, W) for `crop_to`. Reflect padding avoids the dark
    border that zero padding would create in a low-light image.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    if mode == "reflect" and (pad_h >= h or pad_w >= w):
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
    `act` is a module instance, so a network can pass a shared or a custom activation.
    """

    def __init__(self, channels: int, reduction: int, bias: bool = True, act: torch.nn.Module | None = None):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.squeeze = torch.nn.Conv2d(channels, hidden, 1, bias=bias)
        self.act = act if act is not None else torch.nn.ReLU(inplace=True)
        self.excite = torch.nn.Conv2d(hidden, channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.excite(self.act(self.squeeze(x.mean(dim=(-2, -1), keepdim=True))))
        return x * torch.sigmoid(weights)


class TFSameConv2d(torch.nn.Conv2d):
    """3×3 convolution with TensorFlow's 'SAME' padding.

    For stride 2 on an even input TF pads only the bottom/right row and column, whereas `padding=1`
    pads all sides: the output size is the same but the sampling grid is shifted by one pixel, which
    matters when porting the official TF weights.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride)


def tf_default_init(module: torch.nn.Module) -> None:
    """`tf.layers.conv2d` defaults for every convolution in `module`: Glorot-uniform kernels, zero biases.

    For networks transcribed from TensorFlow graphs (GLADNet, Retinex-Net)."""
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
