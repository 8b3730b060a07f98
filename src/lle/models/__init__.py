"""Network architectures, one plain `nn.Module` per file.

There is no registry: a model *name* is the name of a config file in `conf/model/`, and the network
is whatever that file's `net:` node instantiates. `build(name)` therefore returns exactly the network
that `lle-train model=<name>` trains. Importing this package imports torch only: Hydra is imported when a
config is read.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch.nn as nn

from lle.models.official import from_official

__all__ = ["available", "build", "from_official", "model_config"]


def _model_config_dir() -> Path:
    return Path(str(resources.files("lle") / "conf" / "model"))


def available() -> list[str]:
    """Names accepted by `build` and by `model=<name>` on the command line (files starting with `_` are bases
    that other model configs extend, not models)."""
    return sorted(p.stem for p in _model_config_dir().glob("*.yaml") if not p.stem.startswith("_"))


def model_config(name: str):
    """The `conf/model/<name>.yaml` node as `model=<name>` composes it (its bases merged in; not instantiated)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from lle.config import CONFIG_DIR, register_resolvers

    if name not in available():
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available())}")
    register_resolvers()  # model configs may use lle's resolvers (e.g. to follow the data's input kind)
    # Composed, not loaded, so that the file's defaults list (a shared base) is applied; then detached from the
    # composed run, so that what follows the data (`${oc.select:data.in_channels,4}`) takes its own default.
    if GlobalHydra.instance().is_initialized():
        node = compose("train", overrides=[f"model={name}"]).model
    else:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            node = compose("train", overrides=[f"model={name}"]).model
    return OmegaConf.create(OmegaConf.to_container(node, resolve=False))


def build(name: str, **overrides) -> nn.Module:
    """The bare network `name` in its default configuration, with constructor `overrides` applied.

    >>> build("gladnet")                      # the network `model=gladnet` trains
    >>> build("mirnet", n_feat=16)            # a reduced width, e.g. for tests
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    net_cfg = OmegaConf.merge(model_config(name).net, overrides)
    return instantiate(net_cfg, _convert_="all")
