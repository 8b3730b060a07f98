"""Complexity as the protocol states it (docs/specs/protocol.md): MACs of one forward pass at 1×C×256×256.

C is the network's input channels (3 for sRGB, 4 for packed Bayer RAW), so a RAW network's 256×256 input
develops into a larger output (ALEN: 512×512). `lle-report` and `lle-bench` both count with this function.
Also: which networks the channels_last layout is for (inference and lle-eval use it by default).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from lle.models.interface import network_input

MACS_SIZE = 256


def count_macs(net: nn.Module, channels: int = 3, size: int = MACS_SIZE, device: str | torch.device = "cpu") -> int:
    """Multiply-accumulates of one forward pass of `net` at 1×`channels`×`size`×`size`: FlopCounterMode's
    FLOPs / 2 (convolutions, transposed convolutions at their true cost, matrix products)."""
    x = torch.rand(1, channels, size, size, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() // 2


def network_macs(net: nn.Module) -> int | None:
    """`count_macs` at the network's own input channels, on a meta-device copy (shapes only: no memory, no
    time); None where the network's steps depend on the data and cannot run there. What a run records in its
    `metrics.json` (`macs_256`) and its model summary prints."""
    try:
        return count_macs(copy.deepcopy(net).to("meta"), network_input(net).channels, MACS_SIZE, "meta")
    except Exception:  # noqa: BLE001 — not countable on the meta device: no figure rather than a wrong one
        return None


def prefers_channels_last(net: nn.Module) -> bool:
    """Whether to run `net` in the channels_last layout: yes for networks with 2-D convolutions (measured
    1.2–1.8× faster on CPU, docs/benchmarks.md), unless one of its modules sets `channels_last_slower = True`
    because it was measured slower (MIRNet-v2's grouped convolutions)."""
    if any(getattr(module, "channels_last_slower", False) for module in net.modules()):
        return False
    return any(p.dim() == 4 for p in net.parameters())


# Peak memory of one untiled fp32 inference forward pass, in bytes per input pixel (above weights and input),
# measured on CPU by benchmarks/tiled_seams.py, untiled run (docs/benchmarks.md, "Tiles without seams"); keyed by
# the network's class. lle.inference decides from it whether an image must be tiled to fit.
FORWARD_BYTES_PER_PIXEL = {
    "GLADNet": 1_900,
    "MIRNet": 4_600,
    "MIRNetV2": 3_400,
    "ABSGN": 6_100,
    "ALEN": 1_200,
    "RetinexNet": 2_000,
}
UNKNOWN_BYTES_PER_PIXEL = max(FORWARD_BYTES_PER_PIXEL.values())  # a network not measured: assume the heaviest


def forward_bytes_per_pixel(net: nn.Module) -> int:
    """The measured figure of the (first) known network inside `net` (a packed-RAW adapter wraps one);
    parameter-free modules (classical methods) need a few bytes per pixel; others get the heaviest figure."""
    for module in net.modules():
        if type(module).__name__ in FORWARD_BYTES_PER_PIXEL:
            return FORWARD_BYTES_PER_PIXEL[type(module).__name__]
    if next(net.parameters(), None) is None:
        return 64
    return UNKNOWN_BYTES_PER_PIXEL
