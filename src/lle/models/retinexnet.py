"""Retinex-Net: Deep Retinex Decomposition for Low-Light Enhancement (Wei*, Wang*, Yang, Liu; BMVC 2018).

Transcribed from the official TensorFlow graph (`weichen582/RetinexNet` @ fdc15eb, `model.py`):

    I_low ─► DecomNet ─► R (3 ch, sigmoid), L (1 ch, sigmoid)
                          │             │
                          └─► RelightNet([R, L]) ─► Î (1 ch, unbounded)
                                                     │
    S = R · Î  (Î broadcast to the three channels; not clamped)

The two halves are trained in two stages with the losses of `lle.modules.retinex_losses`; the training
procedure lives in its own LightningModule. The paper's BM3D denoising of R is not in the official code and
is an opt-in test-time step here (`bm3d_sigma`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.blocks import TFSameConv2d, resize_nearest, tf_default_init
from lle.models.interface import SRGB


def _same_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A conv with TF 'SAME' zero padding (the official `tf.layers.conv2d(padding='same')`).

    For stride 1 and an odd kernel SAME is the symmetric `padding=k//2`, so the plain (faster) conv is used;
    stride 2 needs TF's bottom/right-heavy padding, which shifts the sampling grid on even sizes.
    """
    if stride == 1 and kernel_size % 2 == 1:
        return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    return TFSameConv2d(in_channels, out_channels, kernel_size, stride=stride)


def _resize_nearest(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # PyTorch's legacy "nearest" (src = floor(dst · in/out)) is TF1's `resize_nearest_neighbor` with
    # align_corners=False, half_pixel_centers=False, also for the odd sizes of non-multiple-of-8 inputs.
    return resize_nearest(x, like.shape[-2:])


class DecomNet(nn.Module):
    """Decomposes an image into reflectance R (B×3×H×W) and illumination L (B×1×H×W), both in (0, 1).

    Module names follow the official TF variable scopes, so the checkpoints map one to one.
    """

    def __init__(self, channel: int = 64, kernel_size: int = 3, layer_num: int = 5):
        super().__init__()
        # Input is [max over RGB, R, G, B]; the first conv is 3× wider (9×9) and has no activation.
        self.shallow_feature_extraction = _same_conv(4, channel, kernel_size * 3)
        self.activated_layers = nn.ModuleList(_same_conv(channel, channel, kernel_size) for _ in range(layer_num))
        self.recon_layer = _same_conv(channel, 4, kernel_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.shallow_feature_extraction(torch.cat([x.amax(dim=1, keepdim=True), x], dim=1))
        for conv in self.activated_layers:
            h = F.relu(conv(h))
        h = self.recon_layer(h)
        return torch.sigmoid(h[:, :3]), torch.sigmoid(h[:, 3:4])


class RelightNet(nn.Module):
    """Enhance-Net: maps (R, L) to the adjusted illumination Î (B×1×H×W), unbounded (no output activation)."""

    def __init__(self, channel: int = 64, kernel_size: int = 3):
        super().__init__()
        self.conv0 = _same_conv(4, channel, kernel_size)
        self.conv1 = _same_conv(channel, channel, kernel_size, stride=2)
        self.conv2 = _same_conv(channel, channel, kernel_size, stride=2)
        self.conv3 = _same_conv(channel, channel, kernel_size, stride=2)
        self.deconv1 = _same_conv(channel, channel, kernel_size)
        self.deconv2 = _same_conv(channel, channel, kernel_size)
        self.deconv3 = _same_conv(channel, channel, kernel_size)
        self.feature_fusion = _same_conv(3 * channel, channel, 1)
        self.output = _same_conv(channel, 1, 3)  # the official code hard-codes 3 here, not kernel_size

    def forward(self, reflectance: torch.Tensor, illumination: torch.Tensor) -> torch.Tensor:
        conv0 = self.conv0(torch.cat([reflectance, illumination], dim=1))  # R first, as in the official concat
        conv1 = F.relu(self.conv1(conv0))
        conv2 = F.relu(self.conv2(conv1))
        conv3 = F.relu(self.conv3(conv2))
        # The skip is added after the ReLU (not concatenated, unlike the PyTorch port aasharma90/RetinexNet_PyTorch).
        deconv1 = F.relu(self.deconv1(_resize_nearest(conv3, conv2))) + conv2
        deconv2 = F.relu(self.deconv2(_resize_nearest(deconv1, conv1))) + conv1
        deconv3 = F.relu(self.deconv3(_resize_nearest(deconv2, conv0))) + conv0
        gathered = torch.cat([_resize_nearest(deconv1, deconv3), _resize_nearest(deconv2, deconv3), deconv3], dim=1)
        return self.output(self.feature_fusion(gathered))


@dataclass
class RetinexOutput:
    """Everything a Retinex-Net pass produces (for the training module and the image logger)."""

    reflectance: torch.Tensor  # R_low, B×3×H×W in (0, 1), as decomposed
    illumination: torch.Tensor  # I_low, B×1×H×W in (0, 1)
    relit_illumination: torch.Tensor  # Î, B×1×H×W, unbounded
    enhanced: torch.Tensor  # S = R · Î (R denoised when BM3D is on), B×3×H×W, not clamped
    denoised_reflectance: torch.Tensor | None = None  # BM3D(R_low), only when it was applied


def denoise_reflectance_bm3d(reflectance: torch.Tensor, sigma: float) -> torch.Tensor:
    """CBM3D (`bm3d.bm3d_rgb`) on each reflectance map of a B×3×H×W batch; `sigma` is on the [0, 1] scale.

    Not differentiable (it runs in NumPy on the CPU): a test-time step only.
    """
    try:
        import bm3d
    except ImportError as err:
        raise ImportError(
            'BM3D denoising of the reflectance needs the optional "bm3d" package: pip install "lle[bm3d]"'
        ) from err
    images = reflectance.detach().permute(0, 2, 3, 1).cpu().double().numpy()
    denoised = [torch.from_numpy(bm3d.bm3d_rgb(image, sigma)) for image in images]
    return torch.stack(denoised).permute(0, 3, 1, 2).to(reflectance)


class RetinexNet(nn.Module):
    """Retinex-Net with the official configuration as defaults (444,613 parameters).

    Args:
        channel: width of both sub-networks (official: 64).
        kernel_size: conv kernel of both sub-networks; DecomNet's first conv is 3× larger (official: 3).
        layer_num: DecomNet's activated 3×3 layers (official: 5).
        bm3d_sigma: if set, the reflectance is denoised with BM3D at this noise level ([0, 1] scale) at
            inference (eval mode), as the paper describes; the official code has no denoising (default off).
    """

    # Any H×W works as in the official graph: TF 'SAME' strided convs give ceil(H/2) and the decoder resizes
    # to the skip's own size, so no padding (which would change the border vs. the official model) is needed.
    size_multiple = 1
    # Three stride-2 convolutions: their samples lie on a grid of 8 input pixels, which tiles keep to (`enhance_tiled`).
    stride_multiple = 8
    # Its ⅛-resolution convolutions reach past a small overlap: 34 dB at tile 32 without overlap, 45.2 at 96 / 8 px.
    # From tile 64 with overlap 16, every measured tile is ≥ 51.5 dB (45 dB + a 5 dB margin): `benchmarks/
    # tiled_seams.py --model retinexnet --size 384 576 --sweep --overlap 0 8 16 32 64` (docs/benchmarks.md).
    min_tile, min_tile_overlap = 64, 16
    # The decomposition is of sRGB images (DecomNet's 4 channels are [max over RGB, R, G, B], built inside).
    in_channels, input_kind, upscale = 3, SRGB, 1

    def __init__(self, channel: int = 64, kernel_size: int = 3, layer_num: int = 5, bm3d_sigma: float | None = None):
        super().__init__()
        self.bm3d_sigma = bm3d_sigma
        self.decom = DecomNet(channel, kernel_size, layer_num)
        self.relight = RelightNet(channel, kernel_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        tf_default_init(self)

    def decompose_and_relight(self, x: torch.Tensor) -> RetinexOutput:
        reflectance, illumination = self.decom(x)
        # Î is predicted from the raw R (what RelightNet was trained on); BM3D only changes the R used in S.
        relit = self.relight(reflectance, illumination)
        denoised = None
        if self.bm3d_sigma is not None and not self.training:
            denoised = denoise_reflectance_bm3d(reflectance, self.bm3d_sigma)
        enhanced = (reflectance if denoised is None else denoised) * relit
        return RetinexOutput(reflectance, illumination, relit, enhanced, denoised)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decompose_and_relight(x).enhanced
