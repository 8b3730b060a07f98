"""Import the official HVI-CIDNet weights (`Fediory/HVI-CIDNet`) into `lle.models.cidnet.CIDNet`.

The authors release the weights in two forms (docs/specs/cidnet.md §6):

* `.pth` files (`weights/LOLv1/w_perc.pth`, `wo_perc.pth`, …): `torch.save(model.state_dict())`, a plain state dict;
* Hugging Face repositories (`Fediory/HVI-CIDNet-LOLv1-wperc`, …) written by `PyTorchModelHubMixin`: a folder
  holding `model.safetensors` (the same state dict) and `config.json` with the constructor arguments
  (`{"channels": [36, 36, 72, 144], "heads": [1, 2, 4, 8], "norm": false}`).

lle keeps the official module names, so every key maps to itself and loading is `load_exact` with the identity.
`.safetensors` files are read by `lle.models.checkpoint_files.read_safetensors` (the package is not a dependency).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from lle.models.checkpoint_files import load_exact, read_checkpoint, read_safetensors
from lle.models.cidnet import CIDNet

HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # what PyTorchModelHubMixin writes (newer, older)
_CONFIG_KEYS = ("channels", "heads", "norm")  # CIDNet's constructor arguments the mixin stores in config.json


def read_cidnet_checkpoint(source) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict and the constructor arguments stored with it ({} for a bare state dict or `.pth` file).

    `source`: a `.pth`/`.pkl` file, a `.safetensors` file, a Hugging Face folder (see the module docstring), or a
    state dict.
    """
    if isinstance(source, Mapping):
        return read_checkpoint(source), {}
    path = Path(source)
    config: dict = {}
    if path.is_dir():
        folder = path
        found = next((folder / name for name in HF_WEIGHTS if (folder / name).is_file()), None)
        if found is None:
            raise ValueError(
                f"{folder} holds none of {', '.join(HF_WEIGHTS)}: expected a Hugging Face snapshot of the official "
                "HVI-CIDNet weights (e.g. Fediory/HVI-CIDNet-LOLv1-wperc) or one of the released .pth files"
            )
        path = found
        if (folder / "config.json").is_file():
            stored = json.loads((folder / "config.json").read_text())
            config = {key: stored[key] for key in _CONFIG_KEYS if key in stored}
    if path.suffix == ".safetensors":
        return read_checkpoint(read_safetensors(path)), config
    return read_checkpoint(path), config


def import_cidnet(source, **overrides) -> CIDNet:
    """CIDNet with the weights of an official checkpoint (see `read_cidnet_checkpoint` for `source`).

    Constructor arguments come from, in increasing priority: the checkpoint's keys (`norm` is on if it holds the
    resampling blocks' LayerNorms), the Hugging Face `config.json`, and `overrides` (e.g. the test-time options
    `gated=False, gated2=True, alpha_i=0.84` of the official LOL-v2-real evaluation).
    """
    state, config = read_cidnet_checkpoint(source)
    arguments = {"norm": "HVE_block1.norm.weight" in state, **config, **overrides}
    return load_exact(CIDNet(**arguments), state, lambda key: [key])
