"""The evaluation protocol, recorded beside every number (metrics.json, lle-report); docs/specs/protocol.md.

`PROTOCOL` is stated by every run; `METRIC_PROTOCOL` only by the runs that computed that optional metric
(docs/metrics.md), so a run without NIQE or LPIPS still follows the standard protocol.
"""

from __future__ import annotations

PROTOCOL = {
    "protocol/psnr": "RGB, full image, output clamped to [0,1], both images quantised to 8 bits",
    "protocol/ssim": "MATLAB-style: 11x11 Gaussian sigma 1.5, K1 0.01, K2 0.03, valid region, mean over RGB",
    "protocol/gt_mean": "*_gtmean keys rescale the output to the ground truth's grey mean (uses GT; not the default)",
    "protocol/selection": (
        "checkpoint with the best val/psnr on the validation split; the test split is never used for selection"
    ),
}

METRIC_PROTOCOL = {
    "protocol/niqe": (
        "MATLAB release (Mittal et al. 2013): output clamped and quantised to 8 bits, {luma}, cropped to "
        "96x96 blocks (top-left, no overlap, no border), 2 scales (MATLAB bicubic antialiased imresize 0.5), "
        "release pristine model; lower is better"
    ),
    "protocol/lpips": (
        "LPIPS v0.1 (Zhang et al. 2018), {net} backbone, linear calibration of the lpips package, RGB in [-1,1] "
        "after clamping to [0,1], full image (no crop, no border), spatial mean; lower is better"
    ),
}


# How a placeholder of METRIC_PROTOCOL reads where no run fills it in (lle-report's notes on the protocol).
UNFILLED = {
    "luma": "the luma metrics.niqe_luma names (default: MATLAB rgb2ycbcr Y)",
    "net": "the metrics.lpips (alex or vgg)",
}


def stated_protocol() -> dict[str, str]:
    """Every protocol line, the optional metrics' with their placeholders in words (not `{luma}`)."""
    return {**PROTOCOL, **{key: line.format(**UNFILLED) for key, line in METRIC_PROTOCOL.items()}}


def metric_protocol(name: str, **details: str) -> dict[str, str]:
    """The protocol line of an optional metric (`details` fill its placeholders, e.g. the LPIPS backbone)."""
    key = f"protocol/{name}"
    return {key: METRIC_PROTOCOL[key].format(**details)}
