"""Exposure is set, not guessed: the input is re-exposed to a stated brightness before the network.

A dark photograph is ambiguous: a dark scene, or a bright one under-exposed ×5 or ×100. A network trained on
inputs of every darkness has to guess the gain from content, and guesses wrong on captures unlike its training
data (over-exposed skies, washed-out colour). lle resolves it as SID resolves it with its amplification ratio:
the gain is applied before the network, in linear light, so that the input's mean linear luminance is
`exposure` (a global statistic of the whole image, shared by tiles). The network then only removes what the
dark capture added (noise, crushed shadows) and returns an image of about that brightness; its training
references are re-exposed to the same value (`data.reference_exposure`). docs/specs/data.md §3.2.

With `blend=True` the network also says, per pixel, how far to trust the re-exposed input itself: it returns a
fourth channel w ≥ 0 and the output is m·input + (1 − m)·prediction with m = w / (1 + w). A network trained for
1,000 steps predicts a smooth image (it removes noise by blurring); the blend lets the input's own detail and
colour through where the network finds it clean, and on real captures it scored higher than the plain
prediction in PSNR, SSIM and chroma (docs/benchmarks.md, "The default run on real captures"). On packed RAW
input, which is not an image of the output's kind, the prediction is returned alone.

A short training cannot teach the network to tell a clean photograph from a noisy one: trained on LOL-like dark
frames it smooths the texture of a mildly dark, clean photograph as if it were noise. `noise_gate=(low, high)`
says it from the image itself: the re-exposed input's noise level σ (lle.models.noise_level, 8-bit luma codes)
sets a floor g on the trust, 1 at σ ≤ low, 0 at σ ≥ high, linear between, and m becomes g + (1 − g)·m. It acts in
evaluation and inference, not in training: a gated training sample would teach the network nothing (over a third
of the generator's dark frames read under 5), and trained through the gate the default run scored lower on real LOL.
Its default in `model=alen_quick` comes from the real LOL training pairs: the re-exposed references read at most
2.5 (p90), the re-exposed dark frames at least 5 (p10) (docs/specs/data.md §3.3).

Packed RAW input passes through: its exposure ratio is given, as in SID. A network that is not wrapped (every
official recipe) sees its input as it comes. At inference, the output's brightness can be set for any network
with `lle.enhance(..., exposure=…)` / `lle-enhance --exposure` (`match_exposure` on the output).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from lle.models.image_statistics import spatial_mean
from lle.models.noise_level import noise_sigma

# The fixed mean linear luminance whose outputs are closest in brightness to real LOL v1 references (median error
# over the 97 training pairs: 10.7 %; their median mean luminance is 0.258, photographic mid-grey 0.18):
# benchmarks/calibrate_lowlight.py, docs/specs/data.md §3.2.
DEFAULT_EXPOSURE = 0.3
MAX_GAIN = 1000.0  # a black frame is not amplified without bound
_LUMINANCE = (0.2126, 0.7152, 0.0722)  # Rec. 709 weights of linear RGB


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def mean_luminance(linear: torch.Tensor) -> torch.Tensor:
    """B×1×1×1 mean luminance of linear RGB B×3×H×W over the whole image (tiles included)."""
    weights = linear.new_tensor(_LUMINANCE).view(1, 3, 1, 1)
    return spatial_mean((linear * weights).sum(dim=1, keepdim=True))


def check_exposure(exposure: float | None) -> None:
    """Refuses an exposure that is not a mean linear luminance in (0, 1); None means "as it is"."""
    if exposure is not None and not 0.0 < exposure < 1.0:
        raise ValueError(f"exposure is a mean linear luminance in (0, 1) (0.18: mid-grey), got {exposure}")


def match_exposure(srgb: torch.Tensor, exposure: float, refine: int = 0) -> torch.Tensor:
    """`srgb` (B×3×H×W in [0, 1]) scaled in linear light to mean luminance `exposure`, clipped at white.

    Clipped highlights lose luminance: `refine` more steps scale the gain until the clipped image has that mean
    (what an output re-exposed for a user should have; the network's input keeps the one-step gain).
    """
    linear = srgb_to_linear(srgb)
    gain = exposure / mean_luminance(linear).clamp_min(exposure / MAX_GAIN)
    for _ in range(refine):
        gain = gain * exposure / mean_luminance((linear * gain).clamp(max=1.0)).clamp_min(exposure / MAX_GAIN)
    return linear_to_srgb(linear * gain.to(linear.dtype))


class ExposureNormalized(nn.Module):
    """`net` applied to its sRGB input re-exposed to mean linear luminance `exposure`; with `blend`, its output
    blended per pixel with that re-exposed input by a weight `net` returns as a fourth channel (module docstring)."""

    def __init__(
        self,
        net: nn.Module,
        exposure: float = DEFAULT_EXPOSURE,
        blend: bool = False,
        noise_gate: tuple[float, float] | None = None,
    ):
        super().__init__()
        check_exposure(exposure)
        self.net, self.exposure, self.blend = net, float(exposure), bool(blend)
        if noise_gate is not None:
            if not blend:
                raise ValueError("noise_gate sets a floor on the blend's trust: it needs blend=true")
            low, high = (float(v) for v in noise_gate)
            if not 0.0 <= low < high:
                raise ValueError(
                    f"noise_gate is [low, high], noise levels in 8-bit luma codes with 0 ≤ low < high "
                    f"(e.g. [2.5, 5.0]), got {list(noise_gate)}"
                )
            noise_gate = (low, high)
        self.noise_gate = noise_gate
        out_channels = getattr(net, "out_channels", 3)
        if out_channels != (4 if self.blend else 3):
            want = "4 (RGB and the blend weight)" if self.blend else "3"
            raise ValueError(
                f"with blend={self.blend} the network must return {want} channels; it returns "
                f"{out_channels} (ALEN: out_channels)"
            )
        # What the network takes and how tiles align: the wrapped network's (lle.models.interface).
        for name in (
            "in_channels",
            "input_kind",
            "upscale",
            "size_multiple",
            "input_multiple",
            "stride_multiple",
            "min_tile",
            "min_tile_overlap",
            "tileable",
        ):
            if hasattr(net, name):
                setattr(self, name, getattr(net, name))
        # Packed RAW input is amplified by its exposure ratio, as SID does: it passes through unchanged.
        self.normalizes = getattr(net, "input_kind", "srgb") == "srgb" and getattr(net, "in_channels", 3) == 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = match_exposure(x, self.exposure) if self.normalizes else x
        out = self.net(x)
        if not self.blend:
            return out
        if not self.normalizes:  # packed RAW is not an image of the output's kind: the prediction alone
            return out[:, :3]
        weight = out[:, 3:4].clamp_min(0.0)
        trust = weight / (1.0 + weight)  # in [0, 1): 0 where the network's prediction alone is used
        if self.noise_gate is not None and not self.training:  # training learns from every sample (module docstring)
            low, high = self.noise_gate
            floor = ((high - noise_sigma(x)) / (high - low)).clamp(0.0, 1.0)  # 1: a clean input is kept
            trust = floor + (1.0 - floor) * trust
        return trust * x + (1.0 - trust) * out[:, :3]
