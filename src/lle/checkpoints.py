"""Reading lle checkpoints: they carry the resolved model config, so the module rebuilds from the file alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

COMPILE_PREFIX = "_orig_mod."


def strip_compile_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys saved from a torch.compile'd module (or one holding a compiled network) as plain keys."""
    return {key.replace(COMPILE_PREFIX, ""): value for key, value in state_dict.items()}


def load_lle_checkpoint(path: str | Path) -> tuple[pl.LightningModule, dict[str, Any]]:
    """The LightningModule of an lle checkpoint, with its weights, and the checkpoint's "lle" metadata.

    Only load checkpoints you trust: they hold Python objects (the metadata), so they are unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ValueError(f"{path}: cannot read the checkpoint ({type(err).__name__}: {err})") from err
    metadata = checkpoint.get("lle") if isinstance(checkpoint, dict) else None
    if not metadata or "model_config" not in metadata or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not an lle checkpoint (no 'lle' model config inside); official weight "
                         "files are loaded with lle.models.from_official or official:<name>:<path>")
    from lle.config import register_resolvers

    register_resolvers()
    module = instantiate(OmegaConf.create(metadata["model_config"]), loss=None)
    try:
        module.load_state_dict(strip_compile_prefix(checkpoint["state_dict"]))
    except RuntimeError as err:
        raise ValueError(f"{path}: the weights do not fit the network its config describes: {err}") from err
    module.lle_metadata = metadata
    return module, metadata
