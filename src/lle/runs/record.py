"""The run record: the resolved config, the command line and the environment, next to the run's results."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lle.atomic import write_text_atomic
from lle.runs.results import write_json

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


def record_run(cfg: DictConfig, output_dir: Path) -> None:
    """config.yaml (resolved), command.txt and environment.json in `output_dir`."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_text_atomic(output_dir / "command.txt", " ".join(sys.argv) + "\n")
    write_json(output_dir / "environment.json", environment())
