"""The optional test metrics (NIQE, LPIPS) that lle-eval adds to PSNR/SSIM: which ones, and their model files.

`TestMetrics` is built from the `metrics:` node of `conf/eval.yaml` before any work, so a missing model file is
reported before the run starts. NIQE needs no reference and runs on unpaired data (on by default there); LPIPS
compares with the ground truth and runs on paired data only.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lle.metrics import keys
from lle.metrics.lpips import LPIPS
from lle.metrics.no_reference import LUMAS, NiqeModel, niqe
from lle.metrics.no_reference import niqe_model as load_niqe_model
from lle.metrics.protocol import metric_protocol

LUMA_NAMES = {"y": "Y of rgb2ycbcr", "gray": "rgb2gray"}


class TestMetrics:
    """Args (the `metrics.*` options):
    niqe: compute NIQE of every output; None: only where the data is unpaired.
    niqe_model: the pristine model file (default: `$LLE_NIQE_MODEL`, then the copy the basicsr package ships).
    niqe_luma: "y" (rgb2ycbcr, the default and the published figures) or "gray" (rgb2gray).
    lpips: None, "alex" or "vgg": LPIPS against the ground truth.
    lpips_backbone / lpips_weights: the backbone's torchvision file and the linear calibration file.
    """

    __test__ = False  # not a pytest class

    def __init__(
        self,
        paired: bool,
        niqe: bool | None = None,
        niqe_model: str | Path | None = None,
        niqe_luma: str = "y",
        lpips: str | None = None,
        lpips_backbone: str | Path | None = None,
        lpips_weights: str | Path | None = None,
    ):
        if niqe_luma not in LUMAS:
            raise ValueError(f"metrics.niqe_luma must be one of {', '.join(LUMAS)}, got {niqe_luma!r}")
        if lpips and not paired:
            raise ValueError(f"metrics.lpips={lpips} compares with a ground truth, but the test data is unpaired")
        self.paired, self.niqe_luma = paired, niqe_luma
        wanted = (not paired) if niqe is None else bool(niqe)
        self.niqe_model: NiqeModel | None = load_niqe_model(niqe_model) if wanted else None
        self.lpips: LPIPS | None = LPIPS.from_files(lpips, lpips_backbone, lpips_weights) if lpips else None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, on in ((keys.LPIPS, self.lpips), (keys.NIQE, self.niqe_model)) if on is not None)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-image values (shape B) of the chosen metrics, keyed by their names without the stage."""
        out: dict[str, torch.Tensor] = {}
        if self.lpips is not None and target is not None:
            self.lpips.to(pred.device)
            out[keys.LPIPS] = self.lpips(pred, target).double().cpu()
        if self.niqe_model is not None:
            out[keys.NIQE] = niqe(pred, self.niqe_model, self.niqe_luma)
        return out

    def protocol(self) -> dict[str, str]:
        """The protocol lines of the chosen metrics, for metrics.json."""
        lines: dict[str, str] = {}
        if self.lpips is not None:
            lines.update(metric_protocol(keys.LPIPS, net=self.lpips.net_name))
        if self.niqe_model is not None:
            lines.update(metric_protocol(keys.NIQE, luma=LUMA_NAMES[self.niqe_luma]))
        return lines
