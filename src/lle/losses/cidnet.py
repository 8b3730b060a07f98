"""HVI-CIDNet's training loss (official `train.py` and `loss/losses.py`; docs/specs/cidnet.md §4).

    L(x, y) = ℓ(x, y) + hvi_weight · ℓ(HVI(x), HVI(y))
    ℓ(a, b) = l1_weight · L1 + ssim_weight · (1 − SSIM) + edge_weight · Edge + perceptual_weight · VGG

with the official weights 1, 0.5, 50, 0.01 and hvi_weight 1. The terms, as the official code computes them:

* L1: mean absolute difference.
* SSIM: 11×11 Gaussian window (σ = 1.5) per channel, zero-padded to the input's size ('same', not the valid
  region of `lle.metrics`), C₁ = 0.01², C₂ = 0.03², averaged over channels and pixels.
* Edge: the mean squared difference of one Laplacian-pyramid level: x − G(up(down(G(x)))), where G is the 5×5
  binomial-like filter [.05, .25, .4, .25, .05]ᵀ[.05, .25, .4, .25, .05] with replicate padding, down keeps the
  even pixels and up puts them back ×4 with zeros in between.
* VGG: torchvision's ImageNet VGG-19 features before the ReLUs conv1_2, conv2_2, conv3_4, conv4_4, the MSE of each
  (weight 1) summed; inputs mapped by (t + 1)/2 (the official `range_norm=True`, although the images are already in
  [0, 1]) and then ImageNet-normalised; the target's features carry no gradient. This term needs torchvision's
  weight file (`vgg19-dcbb9e9d.pth`), which lle does not ship, so `perceptual_weight` defaults to 0: the recipe of
  the official "wo_perc" checkpoints (LOLv1/wo_perc.pth, the one `eval.py --lol` loads). Set it to 0.01 (the
  official default) with `vgg_weights` for the "w_perc" recipe.

The HVI terms use the network's own HVI transform, whose `density_k` the official loss also trains: `attach(net)`
shares it (the loss then sends gradients into `density_k`, as `model.HVIT(...)` does in `train.py`);
`lle.modules.EnhancementModule` attaches its loss to its network when it is built. With a network that has no HVI
transform (this loss on another network), or unattached, the transform uses the official initial k = 0.2 as a
constant.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.models.cidnet import rgb_to_hvi

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_ENV = "LLE_VGG19_WEIGHTS"
# VGG-19's convolutions up to conv4_4 as torchvision numbers its `features` (ReLUs and pools in between).
_VGG19_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25)
_VGG19_TAPS = {2: "conv1_2", 7: "conv2_2", 16: "conv3_4", 25: "conv4_4"}
_VGG19_POOL_AFTER = (2, 7, 16)  # a 2×2 max-pool follows these convs' ReLUs
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def gaussian_ssim(a: torch.Tensor, b: torch.Tensor, window_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM with a zero-padded Gaussian window per channel (the official `map_ssim`, L = 1)."""
    channels = a.shape[1]
    coords = torch.arange(window_size, dtype=torch.float64) - window_size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    window = (g[:, None] @ g[None, :]).to(a)[None, None].expand(channels, 1, window_size, window_size)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, padding=window_size // 2, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim.mean()


def laplacian_level(x: torch.Tensor) -> torch.Tensor:
    """x − G(up(down(G(x)))), the official `EdgeLoss.laplacian_kernel`."""
    k = torch.tensor([0.05, 0.25, 0.4, 0.25, 0.05], dtype=x.dtype, device=x.device)
    kernel = (k[:, None] * k[None, :])[None, None].expand(x.shape[1], 1, 5, 5)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (2, 2, 2, 2), mode="replicate"), kernel, groups=t.shape[1])

    even = torch.zeros(x.shape[-2:], dtype=x.dtype, device=x.device)
    even[::2, ::2] = 4.0  # keep the even pixels ×4, zeros elsewhere
    return x - blur(blur(x) * even)


class VGG19Features(nn.Module):
    """torchvision's VGG-19 `features` up to conv4_4, returning the four tapped maps before their ReLUs.

    The weights are non-persistent buffers: frozen, moved with the loss, and not saved in lle's checkpoints.
    """

    def __init__(self, weights: str | Path):
        super().__init__()
        state = torch.load(Path(weights), map_location="cpu", weights_only=True)
        try:
            for index in _VGG19_CONVS:
                self.register_buffer(f"weight{index}", state[f"features.{index}.weight"].float(), persistent=False)
                self.register_buffer(f"bias{index}", state[f"features.{index}.bias"].float(), persistent=False)
        except KeyError as err:
            raise ValueError(f"{weights}: not torchvision's VGG-19 state dict (no {err.args[0]})") from None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        taps = []
        for index in _VGG19_CONVS:
            x = F.conv2d(x, getattr(self, f"weight{index}"), getattr(self, f"bias{index}"), padding=1)
            if index in _VGG19_TAPS:
                taps.append(x)
            if index == _VGG19_CONVS[-1]:
                break
            x = F.relu(x)
            if index in _VGG19_POOL_AFTER:
                x = F.max_pool2d(x, 2, stride=2)
        return taps


def vgg19_file(path: str | Path | None = None) -> Path:
    """torchvision's VGG-19 file: `path`, `$LLE_VGG19_WEIGHTS`, or torch's hub cache (where torchvision puts it)."""
    from lle.metrics.model_files import locate_hub_file, torch_hub_cached

    how = (
        f"The perceptual term needs torchvision's ImageNet VGG-19 weights: download {VGG19_URL} and pass its path "
        f"(loss.vgg_weights=… or ${VGG19_ENV}), put it at {torch_hub_cached(VGG19_URL)}, or set "
        "loss.perceptual_weight=0."
    )
    return locate_hub_file("VGG-19 weights", VGG19_URL, path, VGG19_ENV, how)


class CIDNetLoss(nn.Module):
    """The official HVI-CIDNet loss in RGB and HVI space (module docstring); `loss(pred, target) -> scalar`."""

    def __init__(
        self,
        l1_weight: float = 1.0,
        ssim_weight: float = 0.5,
        edge_weight: float = 50.0,
        perceptual_weight: float = 0.0,
        hvi_weight: float = 1.0,
        vgg_weights: str | None = None,
        density_k: float = 0.2,
    ):
        super().__init__()
        self.l1_weight, self.ssim_weight, self.edge_weight = l1_weight, ssim_weight, edge_weight
        self.perceptual_weight, self.hvi_weight = perceptual_weight, hvi_weight
        self.vgg = VGG19Features(vgg19_file(vgg_weights)) if perceptual_weight else None
        self.density_k = density_k  # used until `attach` shares a network's trainable one
        self._transform: list[nn.Module] = []  # a list, so the network is not registered (nor saved) twice

    def attach(self, net: nn.Module) -> CIDNetLoss:
        """Compute the HVI terms with `net`'s HVI transform (a CIDNet, or an adapter around one), so that they train
        its `density_k` as the official loss does. A network without one keeps the constant k."""
        transform = getattr(net, "trans", None) or getattr(getattr(net, "net", None), "trans", None)
        self._transform[:] = [transform] if hasattr(transform, "density_k") else []
        return self

    @property
    def shares_density_k(self) -> bool:
        return bool(self._transform)

    def hvi(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb_to_hvi(rgb, self._transform[0].density_k if self._transform else self.density_k)

    def terms(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """ℓ(pred, target): the weighted sum of the four terms in one space."""
        loss = self.l1_weight * (pred - target).abs().mean()
        if self.ssim_weight:
            loss = loss + self.ssim_weight * (1 - gaussian_ssim(pred, target))
        if self.edge_weight:
            loss = loss + self.edge_weight * F.mse_loss(laplacian_level(pred), laplacian_level(target))
        if self.perceptual_weight:
            theirs = self.vgg(target.detach())
            mse = sum(F.mse_loss(ours, t) for ours, t in zip(self.vgg(pred), theirs))
            loss = loss + self.perceptual_weight * mse
        return loss

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.terms(pred, target)
        if self.hvi_weight:
            loss = loss + self.hvi_weight * self.terms(self.hvi(pred), self.hvi(target))
        return loss
