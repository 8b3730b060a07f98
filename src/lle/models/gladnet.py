"""GLADNet: Low-Light Enhancement Network with Global Awareness (Wang*, Wei*, Yang, Liu; IEEE FG 2018).

Transcribed from the official TensorFlow graph (`weichen582/GLADNet` @ 1bd9a6a, `model.py::FG`):

    input ──nearest 96×96──► encoder 6× [conv3×3 s2, ReLU] ──► decoder 6× [nearest ×2, conv3×3, ReLU, + skip]
      │                                                                      │ nearest back to H×W (64 ch)
      └──────────────────────── concat (3 + 64) ◄────────────────────────────┘
                                  │
                      4× [conv3×3 128, ReLU] → conv3×3 3 → ReLU   (detail reconstruction)

All convolutions have biases, Glorot-uniform weights and zero biases as in TF; there is no normalisation.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.blocks import TFSameConv2d, resize_nearest, tf_default_init
from lle.models.image_statistics import resize_nearest_to_tile, whole_input
from lle.models.interface import kind_of_channels


def _conv(in_channels: int, out_channels: int, stride: int, tf_same_padding: bool) -> nn.Conv2d:
    if tf_same_padding:
        return TFSameConv2d(in_channels, out_channels, 3, stride=stride)
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


class GLADNet(nn.Module):
    """GLADNet with the official configuration as defaults (931,523 parameters).

    Args:
        in_channels: image channels (3 for sRGB).
        global_size: side of the square the global branch sees (official: 96).
        global_channels: width of the global illumination encoder-decoder (official: 64).
        num_global_levels: stride-2 encoder stages (official: 6, 96 → 2).
        detail_channels: width of the detail reconstruction convs (official: 128).
        num_detail_convs: 128-channel convs before the output conv (official: 4).
        tf_same_padding: TF 'SAME' padding as the official graph (default); False uses symmetric
            `padding=1`, which gives identical shapes.
    """

    size_multiple = 1
    upscale = 1
    # Tiled within 45 dB at every size lle-enhance accepts, 58 dB at the worst (tile 32, no overlap): the global
    # branch sees the whole image (two passes) and the detail convolutions reach 5 px. `benchmarks/tiled_seams.py
    # --model gladnet --size 384 576 --sweep --overlap 0 8 16 32 64` (docs/benchmarks.md, "Tiles without seams").
    min_tile, min_tile_overlap = 32, 0

    def __init__(
        self,
        in_channels: int = 3,
        global_size: int = 96,
        global_channels: int = 64,
        num_global_levels: int = 6,
        detail_channels: int = 128,
        num_detail_convs: int = 4,
        tf_same_padding: bool = True,
    ):
        super().__init__()
        self.in_channels, self.input_kind = in_channels, kind_of_channels(in_channels)
        self.global_size = global_size
        c = global_channels
        self.encoder = nn.ModuleList(
            [_conv(in_channels if i == 0 else c, c, 2, tf_same_padding) for i in range(num_global_levels)]
        )
        self.decoder = nn.ModuleList([_conv(c, c, 1, tf_same_padding) for _ in range(num_global_levels)])
        detail = []
        for i in range(num_detail_convs):
            detail += [
                _conv(in_channels + c if i == 0 else detail_channels, detail_channels, 1, tf_same_padding),
                nn.ReLU(inplace=True),
            ]
        detail += [_conv(detail_channels, 3, 1, tf_same_padding), nn.ReLU(inplace=True)]
        self.detail = nn.Sequential(*detail)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        tf_default_init(self)

    def global_illumination(self, x: torch.Tensor) -> torch.Tensor:
        """The 64-channel global illumination estimate at the input's resolution."""
        # Tiled, the branch sees the whole image and each tile gets its crop (lle.models.image_statistics).
        h = resize_nearest(whole_input(x), (self.global_size, self.global_size))
        sizes, skips = [h.shape[-2:]], []
        for conv in self.encoder:
            h = F.relu(conv(h))
            skips.append(h)
            sizes.append(h.shape[-2:])
        # The official code hard-codes the decoder sizes 3, 6, …, 96; they are the encoder's own sizes
        # in reverse, and each decoder output gets the encoder feature of that size added (not the last).
        skips = [*skips[:-1][::-1], None]
        for conv, size, skip in zip(self.decoder, sizes[-2::-1], skips):
            h = F.relu(conv(resize_nearest(h, tuple(size))))
            if skip is not None:
                h = h + skip
        return resize_nearest_to_tile(h, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detail(torch.cat([self.global_illumination(x), x], dim=1))
