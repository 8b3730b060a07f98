"""What an lle checkpoint carries besides Lightning's state, written and read here only.

A checkpoint (`best.ckpt`, `last.ckpt`) holds, next to the weights and the optimizer state:

- `checkpoint["lle"]`: a `CheckpointMetadata` as a plain dict — the resolved model config (so the network
  rebuilds from the file alone), the data it was trained on, the loss, the protocol, the W&B run id, and the
  state a training procedure needs across a resume (Retinex-Net's stage boundary);
- `checkpoint["rng_states"]`: the random streams (`lle.runs.rng`), for exact resume.

Plain values only (dicts, lists, strings, numbers, tensors), so every reader loads them with
`torch.load(weights_only=True)`: reading a checkpoint never runs code from it, and the config it carries is
built only where each `_target_` is one of lle's own classes (`lle.runs.allow_list`). Checkpoints written before
this schema (0.1) are read too: see `_upgrade`.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lle.metrics.protocol import PROTOCOL
from lle.runs.allow_list import check_saved_config

METADATA_KEY = "lle"
RNG_KEY = "rng_states"
SCHEMA_VERSION = 2
COMPILE_PREFIX = "_orig_mod."  # what torch.compile puts before the keys of a compiled module
NET_PREFIX = "net."  # the LightningModules hold their network as `net`


@dataclass
class CheckpointMetadata:
    model_name: str | None
    model_config: dict[str, Any]  # the resolved `model:` node; its `net:` node builds the (adapted) network
    data_name: str | None = None
    data_config: dict[str, Any] = field(default_factory=dict)
    loss_name: str | None = None
    protocol: dict[str, str] = field(default_factory=lambda: dict(PROTOCOL))
    wandb_run_id: str | None = None
    procedure_state: dict[str, Any] = field(default_factory=dict)  # e.g. Retinex-Net's {"stage", "stage1_epochs"}
    schema_version: int = SCHEMA_VERSION

    # --- in a checkpoint dict ---------------------------------------------------------------------------
    def store(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[METADATA_KEY] = asdict(self)

    @classmethod
    def read(cls, checkpoint: dict[str, Any]) -> CheckpointMetadata | None:
        """The metadata of a loaded checkpoint dict; None when it is not an lle checkpoint."""
        stored = checkpoint.get(METADATA_KEY) if isinstance(checkpoint, dict) else None
        if not isinstance(stored, dict) or "model_config" not in stored:
            return None
        return cls(**_upgrade(stored, checkpoint))

    # --- what it rebuilds -------------------------------------------------------------------------------
    def build_module(self, source: str = "checkpoint"):
        """The LightningModule the config describes, with fresh weights (no loss: it is for evaluation).
        `source` names the file in the error raised where the config names code lle does not build."""
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        from lle.config import register_resolvers

        check_saved_config(self.model_config, source)
        register_resolvers()
        return instantiate(OmegaConf.create(self.model_config), loss=None)

    def build_network(self, source: str = "checkpoint") -> nn.Module:
        """The network alone (adapted to its input as it was trained), with fresh weights."""
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        from lle.config import register_resolvers

        check_saved_config(self.model_config["net"], source)
        register_resolvers()
        return instantiate(OmegaConf.create(self.model_config["net"]), _convert_="all")


def _upgrade(stored: dict[str, Any], checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (lle 0.1) → 2: the RAW adapter moved from the module's `input_adapter` into the `net:` node,
    Retinex-Net's stage keys from the checkpoint's top level into `procedure_state`, unknown keys dropped."""
    stored = copy.deepcopy(stored)
    if stored.get("schema_version", 1) < 2:
        model = stored["model_config"]
        adapter = model.pop("input_adapter", None)
        net = model.get("net") or {}
        if adapter is not None and net.get("_target_") != "lle.models.adapters.adapted":
            network = net.pop("_target_")
            model["net"] = {"_target_": "lle.models.adapters.adapted", "network": network, "adapter": adapter, **net}
        for old, new in (("retinexnet_stage", "stage"), ("retinexnet_stage1_epochs", "stage1_epochs")):
            if old in checkpoint:
                stored.setdefault("procedure_state", {})[new] = checkpoint[old]
        stored["schema_version"] = SCHEMA_VERSION
    known = CheckpointMetadata.__dataclass_fields__
    return {k: v for k, v in stored.items() if k in known}


# --- files -------------------------------------------------------------------------------------------------


def _load(path: Path, mmap: bool) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path}: not an lle checkpoint: it holds Python objects beyond plain values, which lle does not unpickle "
            "(unpickling runs code from the file)"
        ) from err
    except Exception as err:
        raise ValueError(f"{path}: cannot read the checkpoint ({type(err).__name__}: {err})") from err


def _require_metadata(checkpoint: dict[str, Any], path: Path) -> CheckpointMetadata:
    metadata = CheckpointMetadata.read(checkpoint)
    if metadata is None or "state_dict" not in checkpoint:
        raise ValueError(
            f"{path} is not an lle checkpoint (no 'lle' model config inside); official weight "
            "files are loaded with lle.models.from_official or official:<name>:<path>"
        )
    return metadata


def read_metadata(path: str | Path) -> CheckpointMetadata:
    """The metadata of a checkpoint file without reading its tensors (memory-mapped)."""
    path = Path(path)
    return _require_metadata(_load(path, mmap=True), path)


def read_metadata_of_option(option: str, path: str | Path) -> CheckpointMetadata:
    """`read_metadata` for a checkpoint named on the command line: a missing, truncated or foreign file is a
    user's mistake (`lle.config.UsageError`) that names the option, found before the run starts."""
    from lle.config import UsageError

    try:
        return read_metadata(path)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(f"{option}: {err}") from err


def strip_compile_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys saved from a torch.compile'd module (or one holding a compiled network) as plain keys."""
    return {key.replace(COMPILE_PREFIX, ""): value for key, value in state_dict.items()}


def _fill(target: nn.Module, state_dict: dict[str, torch.Tensor], path: Path) -> None:
    try:
        target.load_state_dict(state_dict)
    except RuntimeError as err:
        raise ValueError(f"{path}: the weights do not fit the network its config describes: {err}") from err


def load_lle_checkpoint(path: str | Path):
    """The LightningModule of an lle checkpoint, with its weights, and the checkpoint's metadata."""
    path = Path(path)
    checkpoint = _load(path, mmap=False)
    metadata = _require_metadata(checkpoint, path)
    module = metadata.build_module(str(path))
    _fill(module, strip_compile_prefix(checkpoint["state_dict"]), path)
    module.checkpoint_metadata = metadata
    return module, metadata


def load_lle_network(path: str | Path) -> tuple[nn.Module, CheckpointMetadata]:
    """The network of an lle checkpoint, with its weights, without building its LightningModule."""
    path = Path(path)
    checkpoint = _load(path, mmap=False)
    metadata = _require_metadata(checkpoint, path)
    net = metadata.build_network(str(path))
    state = strip_compile_prefix(checkpoint["state_dict"])
    _fill(net, {k[len(NET_PREFIX) :]: v for k, v in state.items() if k.startswith(NET_PREFIX)}, path)
    return net, metadata
