"""Network architectures, one plain `nn.Module` per file.

There is no registry: a model *name* is the name of a config file in `conf/model/`, and the network
is whatever that file's `net:` node instantiates. `build(name)` therefore returns exactly the network
that `lle-train model=<name>` trains.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch.nn as nn
from hydra.utils import instantiate
from omegaconf import OmegaConf

from lle.models.official import from_official

__all__ = ["available", "build", "from_official", "model_config"]


def _model_config_dir() -> Path:
    return Path(str(resources.files("lle") / "conf" / "model"))


def available() -> list[str]:
    """Names accepted by `build` and by `model=<name>` on the command line."""
    return sorted(p.stem for p in _model_config_dir().glob("*.yaml"))


def model_config(name: str):
    """The `conf/model/<name>.yaml` node (not instantiated)."""
    from lle.config import register_resolvers

    register_resolvers()  # model configs may use lle's resolvers (e.g. to follow the data's input kind)
    path = _model_config_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available())}")
    return OmegaConf.load(path)


def build(name: str, **overrides) -> nn.Module:
    """The bare network `name` in its default configuration, with constructor `overrides` applied.

    >>> build("gladnet")                      # the network `model=gladnet` trains
    >>> build("mirnet", n_feat=16)            # a reduced width, e.g. for tests
    """
    net_cfg = model_config(name).net
    net_cfg = OmegaConf.merge(net_cfg, overrides)
    return instantiate(net_cfg, _convert_="all")
