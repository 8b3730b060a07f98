"""What every run leaves in its output directory besides checkpoints and logs."""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

# The evaluation protocol, recorded with every number (shared/specs/protocol.md).
PROTOCOL = {
    "protocol/psnr": "RGB, full image, output clamped to [0,1], both images quantised to 8 bits",
    "protocol/ssim": "MATLAB-style: 11x11 Gaussian sigma 1.5, K1 0.01, K2 0.03, valid region, mean over RGB",
    "protocol/gt_mean": "*_gtmean keys rescale the output to the ground truth's grey mean (uses GT; not the default)",
    "protocol/selection": "checkpoint with the best val/psnr on the validation split; the test split is never used for selection",
}

_PACKAGES = ("lle", "torch", "pytorch-lightning", "hydra-core", "omegaconf", "torchmetrics", "kornia", "numpy")


def environment() -> dict[str, Any]:
    """Library versions and hardware, so that a number can be traced to where it was made."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": versions,
    }


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_per_image_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
