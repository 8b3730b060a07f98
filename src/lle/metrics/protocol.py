"""The evaluation protocol, recorded beside every number (metrics.json, lle-report); docs/specs/protocol.md."""

from __future__ import annotations

PROTOCOL = {
    "protocol/psnr": "RGB, full image, output clamped to [0,1], both images quantised to 8 bits",
    "protocol/ssim": "MATLAB-style: 11x11 Gaussian sigma 1.5, K1 0.01, K2 0.03, valid region, mean over RGB",
    "protocol/gt_mean": "*_gtmean keys rescale the output to the ground truth's grey mean (uses GT; not the default)",
    "protocol/selection": (
        "checkpoint with the best val/psnr on the validation split; the test split is never used for selection"
    ),
}
