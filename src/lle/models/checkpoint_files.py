"""Reading authors' PyTorch weight files and loading them exactly into lle networks: the machinery every importer
of `lle.models.official` (and the per-network importer files beside it) uses.

Loading is exact: every tensor of the checkpoint lands in exactly one lle tensor, every lle tensor is filled, and
anything else is an error that names the keys (missing, unexpected, wrong shape, or aliases that differ).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from os import PathLike
from pathlib import Path

import torch
import torch.nn as nn

StateDict = Mapping[str, torch.Tensor]


# Entries that official training scripts wrap the state dict in: lle's MIRNet/ABSGN-style {"state_dict"},
# BasicSR's {"params"} (MIRNet-v2; "params_ema" when EMA weights are saved), ALEN's {"enhance"}.
_WRAPPERS = ("state_dict", "params", "params_ema", "enhance")


def read_checkpoint(path_or_state_dict: str | PathLike | StateDict) -> dict[str, torch.Tensor]:
    """The bare state dict of an official PyTorch checkpoint: unwraps `{"state_dict": ...}`, `{"params": ...}`,
    `{"enhance": ...}` and DataParallel's `module.` prefix."""
    obj = path_or_state_dict
    if isinstance(obj, (str, PathLike)):
        path = Path(obj)
        if path.is_dir():
            raise ValueError(f"{path} is a folder; this network's official weights are one file (a .pth/.pkl)")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as err:  # truncated or not a torch file: the unpickler's message alone is cryptic
            raise ValueError(
                f"{path} is not a readable PyTorch checkpoint (truncated or another format): {err}"
            ) from err
    if isinstance(obj, Mapping):
        wrapper = next((k for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if wrapper is not None:
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            "expected a state dict (str → tensor) or a checkpoint with one of the entries " + ", ".join(_WRAPPERS)
        )
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
    unmatched = []  # lle tensors of a configuration the official code does not have (e.g. an added activation)
    for lle_key in targets:
        try:
            keys = official_keys(lle_key)
        except (KeyError, ValueError):
            unmatched.append(lle_key)
            continue
        for key in keys:
            if key in destination:
                raise AssertionError(f"importer bug: {key} is mapped to both {destination[key]} and {lle_key}")
            destination[key] = lle_key

    problems = []
    if unmatched:
        problems.append(
            "lle tensors with no counterpart in the official model (a non-official configuration was asked "
            "for?): " + ", ".join(unmatched)
        )
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


# safetensors (Hugging Face releases): an 8-byte little-endian header length, a JSON header naming each tensor's
# dtype, shape and byte range, then the raw little-endian data. Read here: the `safetensors` package is not a
# dependency of lle.
_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: str | PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a `.safetensors` file, without the `safetensors` package; a damaged file is named."""
    path = Path(path)
    data = path.read_bytes()
    problem = None
    if len(data) < 8:
        problem = "shorter than its 8-byte header length"
    else:
        length = int.from_bytes(data[:8], "little")
        if 8 + length > len(data):
            problem = f"header of {length} bytes runs past the end of the file ({len(data)} bytes)"
    if problem is None:
        try:
            header = json.loads(data[8 : 8 + length])
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
            problem = "header is not JSON"
    if problem is not None:
        raise ValueError(f"{path} is not a readable safetensors file (truncated or another format): {problem}")

    base, tensors = 8 + length, {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {entry.get('dtype')!r}, which lle does not read")
        start, end = entry["data_offsets"]
        shape = list(entry["shape"])
        expected = torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size()
        if end - start != expected or base + end > len(data):
            raise ValueError(f"{path}: tensor {name} is truncated or damaged ({end - start} bytes for shape {shape})")
        raw = bytearray(data[base + start : base + end])  # a writable copy: frombuffer shares the memory
        tensor = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = tensor.reshape(shape)
    return tensors
