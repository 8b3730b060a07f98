"""Import the weights of official (authors') checkpoints into lle networks.

    net = from_official("mirnet", "pretrained_models/model_enhancement.pth")

Loading is exact: every tensor of the checkpoint lands in exactly one lle tensor, every lle tensor is filled,
and anything else is an error that names the keys (missing, unexpected, wrong shape, or aliases that differ).
Each network contributes an importer to `IMPORTERS`; an importer builds the lle network and names, for each
lle state-dict key, the official key(s) it corresponds to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from os import PathLike

import torch
import torch.nn as nn

from lle.models.mirnet import MIRNet

StateDict = Mapping[str, torch.Tensor]


def read_checkpoint(path_or_state_dict: str | PathLike | StateDict) -> dict[str, torch.Tensor]:
    """The bare state dict of an official checkpoint: unwraps `{"state_dict": ...}` and DataParallel's `module.`."""
    obj = path_or_state_dict
    if isinstance(obj, (str, PathLike)):
        obj = torch.load(obj, map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # the official training scripts save {"epoch", "state_dict", "optimizer"}
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError("expected a state dict (str → tensor) or a checkpoint with a 'state_dict' entry")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}  # saved from nn.DataParallel
    return dict(obj)


def load_exact(model: nn.Module, official: StateDict, official_keys: Callable[[str], list[str]]) -> nn.Module:
    """Copy `official` into `model`, where `official_keys(lle_key)` lists the official keys of each lle key.

    Several official keys may name one lle tensor (weights the official model shares, which its state dict
    repeats); they must then carry equal values. An lle key may list no official key when it is an alias
    of a tensor reached under another name.
    """
    targets = model.state_dict(keep_vars=True)  # aliases of a shared tensor are the same object
    destination: dict[str, str] = {}  # official key → lle key
    for lle_key in targets:
        for key in official_keys(lle_key):
            if key in destination:
                raise AssertionError(f"importer bug: {key} is mapped to both {destination[key]} and {lle_key}")
            destination[key] = lle_key

    problems = []
    missing = [k for k in destination if k not in official]
    unexpected = [k for k in official if k not in destination]
    if missing:
        problems.append("missing keys (in the official model, not in the checkpoint): " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected keys (in the checkpoint, not in the official model): " + ", ".join(unexpected))

    sources: dict[int, list[str]] = {}  # id of an lle tensor → the official keys that fill it
    for key, lle_key in destination.items():
        if key not in official:
            continue
        if official[key].shape != targets[lle_key].shape:
            problems.append(
                f"shape mismatch: {key} is {tuple(official[key].shape)} in the checkpoint, "
                f"lle {lle_key} is {tuple(targets[lle_key].shape)}"
            )
            continue
        sources.setdefault(id(targets[lle_key]), []).append(key)
    for keys in sources.values():
        differing = [k for k in keys[1:] if not torch.equal(official[k], official[keys[0]])]
        if differing:
            problems.append(
                f"{keys[0]} and {', '.join(differing)} are one shared tensor in the official model "
                f"but carry different values in the checkpoint"
            )
    if problems:
        raise ValueError("cannot load the official checkpoint exactly:\n  " + "\n  ".join(problems))

    with torch.no_grad():
        for name, tensor in targets.items():
            if id(tensor) not in sources:
                raise AssertionError(f"importer bug: no official key fills {name}")
            tensor.copy_(official[sources[id(tensor)][0]])
    return model


# --- MIRNet (swz30/MIRNet, networks/MIRNet_model.py) ----------------------------------------------------------

# Renamed leaves; everything inside the resamplers (`body.{i}.top|bot.{n}`) keeps its official name.
_DAU_LEAVES = {  # lle DAU attribute → official DAU attribute
    "conv1": "body.0",
    "act": "body.1",  # the shared PReLU: one official key per DAU use, all equal
    "conv2": "body.2",
    "spatial_attention.conv": "SA.spatial.conv",
    "channel_attention.squeeze": "CA.conv_du.0",
    "channel_attention.excite": "CA.conv_du.2",
    "fuse": "conv1x1",
}
_SKFF_LEAVES = {"squeeze": "conv_du.0", "act": "conv_du.1", "select": "fcs"}


def _rename(path: str, leaves: Mapping[str, str]) -> str:
    for ours, theirs in leaves.items():
        if path.startswith(ours + "."):
            return theirs + path[len(ours) :]
    raise KeyError(path)


def _mirnet_official_keys(model: MIRNet) -> Callable[[str], list[str]]:
    n_feat = model.conv_in.out_channels
    n_msrb = len(model.groups[0].blocks)
    msrb = model.groups[0].blocks[0]
    channels = [n_feat * 2**j for j in range(msrb.height)]

    def msrb_keys(path: str) -> list[str]:
        """lle MSRB-relative key → official MSRB-relative key(s)."""
        if m := re.fullmatch(r"daus\.(\d+)\.(\d+)\.(.+)", path):
            column, stream, leaf = int(m[1]), m[2], _rename(m[3], _DAU_LEAVES)
            # A shared DAU sits in every official column: `[DAU(C)] * width`.
            columns = range(msrb.width) if msrb.share_dau_columns else [column]
            return [f"blocks.{stream}.{c}.{leaf}" for c in columns]
        if m := re.fullmatch(r"down\.(\d+)_to_(\d+)\.(.+)", path):  # official key: input channels _ scale
            src, dst = int(m[1]), int(m[2])
            return [f"down.{channels[src]}_{2 ** (dst - src)}.{m[3]}"]
        if m := re.fullmatch(r"up\.(\d+)_to_(\d+)\.(.+)", path):
            src, dst = int(m[1]), int(m[2])
            return [f"up.{channels[src]}_{2 ** (src - dst)}.{m[3]}"]
        if m := re.fullmatch(r"output_up\.(\d+)\.(.+)", path):
            return [f"last_up.{m[1]}.{m[2]}"]
        if m := re.fullmatch(r"skff\.(\d+)\.(.+)", path):
            return [f"selective_kernel.{m[1]}.{_rename(m[2], _SKFF_LEAVES)}"]
        if path.startswith("conv_out."):
            return [path]
        raise KeyError(path)

    def official_keys(key: str) -> list[str]:
        if key.startswith(("conv_in.", "conv_out.")):
            return [key]
        if key == "dau_act.weight":
            return []  # reached as `act` inside every DAU
        if m := re.fullmatch(r"groups\.(\d+)\.conv\.(.+)", key):  # RRG: body = [MSRB × n_MSRB, conv]
            return [f"body.{m[1]}.body.{n_msrb}.{m[2]}"]
        if m := re.fullmatch(r"groups\.(\d+)\.blocks\.(\d+)\.(.+)", key):
            return [f"body.{m[1]}.body.{m[2]}.{k}" for k in msrb_keys(m[3])]
        raise KeyError(key)

    return official_keys


def _import_mirnet(state_dict: StateDict, **overrides) -> MIRNet:
    model = MIRNet(**overrides)
    return load_exact(model, state_dict, _mirnet_official_keys(model))


# Model name (as in `conf/model/`) → importer(state_dict, **constructor overrides) → loaded lle network.
IMPORTERS: dict[str, Callable[..., nn.Module]] = {
    "mirnet": _import_mirnet,
}


def from_official(name: str, path_or_state_dict: str | PathLike | StateDict, **overrides) -> nn.Module:
    """The lle network `name` with the weights of an official checkpoint (a file or a state dict).

    `overrides` are constructor arguments for checkpoints trained in a non-default configuration, e.g.
    `share_dau_columns=False` to fine-tune MIRNet with independent DAUs starting from the official weights.
    """
    if name not in IMPORTERS:
        raise ValueError(f"no importer for {name!r}; importers exist for: {', '.join(sorted(IMPORTERS))}")
    return IMPORTERS[name](read_checkpoint(path_or_state_dict), **overrides)
