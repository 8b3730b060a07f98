"""LPIPS (Zhang et al., CVPR 2018), version 0.1: a learned perceptual distance between two images, lower is better.

The network is the `lpips` package's `LPIPS(net=…, version="0.1")` rebuilt here, because that package needs
torchvision, which lle does not depend on:

1. Both images clamped to [0, 1], mapped to [-1, 1], then LPIPS' scaling layer (x − shift) / scale with
   shift = (−0.030, −0.088, −0.188), scale = (0.458, 0.448, 0.450).
2. The ImageNet backbone's features at five ReLUs (AlexNet: relu1…relu5; VGG16: relu1_2, relu2_2, relu3_3,
   relu4_3, relu5_3), each unit-normalised over channels (x / (‖x‖ + 1e-10)).
3. The squared difference of the two images' features, weighted per channel by the linear calibration layer
   (a 1×1 convolution without bias), averaged over the spatial positions and summed over the five layers.

Two files, both data: the backbone's ImageNet weights (torchvision's state-dict file, which lle loads into its
own `AlexNetFeatures` / `VGG16Features`, laid out as torchvision's `features` so the keys match), and the
linear calibration (`lpips/weights/v0.1/<net>.pth`, shipped in the `lpips` package; read from the installed
package without importing it, or from a path).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn as nn

from lle.metrics.model_files import locate, locate_hub_file, torch_hub_cached

# torchvision's file for each backbone: its URL, and the first 8 hex digits of its SHA-256 (torchvision puts
# them in the file name and checks them on download).
BACKBONE_FILES = {
    "alex": ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79"),
    "vgg": ("https://download.pytorch.org/models/vgg16-397923af.pth", "397923af"),
}
BACKBONE_ENV = "LLE_LPIPS_BACKBONE"
WEIGHTS_ENV = "LLE_LPIPS_WEIGHTS"
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class AlexNetFeatures(nn.Module):
    """torchvision's `alexnet().features` (same indices, so its state dict loads), returning the five ReLUs."""

    taps = (1, 4, 7, 9, 11)
    channels = (64, 192, 384, 256, 256)

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
        )  # torchvision's last max-pool (index 12) is never used by LPIPS

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
        return outputs


class VGG16Features(AlexNetFeatures):
    """torchvision's `vgg16().features` up to relu5_3 (indices 0…29), returning relu1_2 … relu5_3."""

    taps = (3, 8, 15, 22, 29)
    channels = (64, 128, 256, 512, 512)

    def __init__(self):
        nn.Module.__init__(self)
        layers: list[nn.Module] = []
        width = 3
        for block, (channels, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
            if block:
                layers.append(nn.MaxPool2d(2, stride=2))
            for _ in range(convs):
                layers += [nn.Conv2d(width, channels, 3, padding=1), nn.ReLU(inplace=True)]
                width = channels
        self.features = nn.Sequential(*layers)


BACKBONES = {"alex": AlexNetFeatures, "vgg": VGG16Features}


def _check_net(net: str) -> None:
    if net not in BACKBONES:
        raise ValueError(f"LPIPS backbone must be one of {', '.join(BACKBONES)}, got {net!r}")


def backbone_file(net: str, path: str | Path | None = None) -> Path:
    """The backbone's torchvision file: `path`, `$LLE_LPIPS_BACKBONE`, or torch's hub cache (where torchvision
    downloads it); the error says what to download."""
    _check_net(net)
    url, _ = BACKBONE_FILES[net]
    cached = torch_hub_cached(url)
    how = (
        f"Download {url} (torchvision's ImageNet {net} weights) and pass its path "
        f"(metrics.lpips_backbone=/path/{cached.name} or ${BACKBONE_ENV}), or put it at {cached}."
    )
    return locate_hub_file(f"LPIPS {net} backbone", url, path, BACKBONE_ENV, how)


def linear_weights_file(net: str, path: str | Path | None = None) -> Path:
    """The v0.1 linear calibration: `path`, `$LLE_LPIPS_WEIGHTS`, or the installed `lpips` package's file."""
    _check_net(net)
    how = (
        "Install the package that ships it (lle reads only its data file): pip install --no-deps lpips==0.1.4 ; "
        f"or pass lpips/weights/v0.1/{net}.pth from the LPIPS repository (metrics.lpips_weights=… or ${WEIGHTS_ENV})."
    )
    return locate(f"LPIPS {net} linear weights", path, WEIGHTS_ENV, ("lpips", f"weights/v0.1/{net}.pth"), how)


def _sha256_prefix(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:8]


class LPIPS(nn.Module):
    """LPIPS v0.1 with an AlexNet (`net="alex"`, the authors' default) or VGG16 backbone.

    Built without weights; `from_files` loads the two weight files. `forward(pred, target)` takes B×3×H×W
    images in [0, 1] and returns one distance per image (shape B).
    """

    def __init__(self, net: str = "alex"):
        super().__init__()
        _check_net(net)
        self.net_name = net
        self.backbone = BACKBONES[net]()
        self.linear = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self.backbone.channels)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_files(
        cls, net: str = "alex", backbone: str | Path | None = None, weights: str | Path | None = None
    ) -> LPIPS:
        model = cls(net)
        model.load_backbone(backbone_file(net, backbone))
        model.load_linear(linear_weights_file(net, weights))
        return model

    def load_backbone(self, path: str | Path, check_hash: bool = True) -> None:
        """Load torchvision's state-dict file (its `features.*` entries; the classifier is not used)."""
        path = Path(path)
        if check_hash:
            expected = BACKBONE_FILES[self.net_name][1]
            found = _sha256_prefix(path)
            if found != expected:
                raise ValueError(
                    f"{path}: SHA-256 starts with {found}, but torchvision's {self.net_name} file "
                    f"({BACKBONE_FILES[self.net_name][0]}) starts with {expected}"
                )
        state = torch.load(path, map_location="cpu", weights_only=True)
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        missing, _ = self.backbone.load_state_dict(features, strict=False)
        if missing:
            raise ValueError(f"{path}: not a torchvision {self.net_name} state dict (missing {', '.join(missing)})")

    def load_linear(self, path: str | Path) -> None:
        """Load the lpips package's `lin<k>.model.1.weight` tensors (1×C×1×1 each)."""
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        try:
            tensors = [state[f"lin{k}.model.1.weight"] for k in range(len(self.linear))]
        except KeyError as err:
            raise ValueError(f"{path}: not an LPIPS linear-layer file (no {err.args[0]})") from None
        for layer, tensor in zip(self.linear, tensors):
            layer.weight.data.copy_(tensor)

    @staticmethod
    def _unit(x: torch.Tensor) -> torch.Tensor:
        return x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"LPIPS: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        dtype = self.shift.dtype
        a, b = ((t.detach().to(dtype).clamp(0, 1) * 2 - 1 - self.shift) / self.scale for t in (pred, target))
        total = torch.zeros(pred.shape[0], dtype=dtype, device=pred.device)
        for fa, fb, linear in zip(self.backbone(a), self.backbone(b), self.linear):
            total = total + linear((self._unit(fa) - self._unit(fb)) ** 2).mean((1, 2, 3))
        return total
