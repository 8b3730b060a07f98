"""Configs read back from disk are data, not code: which `_target_`s lle will instantiate from them.

A run folder's `config.yaml` and a checkpoint's model config name what to build by dotted path. Hydra would call
anything (`torch.save`, `numpy.save`, ...), so a report over a downloaded sweep, or a checkpoint from a colleague,
could write files or run programs. Every reader of saved configs (`lle-report` counting MACs, checkpoints
rebuilding their module or network) first checks each `_target_` here: it must lie in one of lle's own packages
or torch's optimisers, and be the kind of object that package provides (a network class, a LightningModule class,
an optimiser, a schedule). The name is checked before anything is imported, and the object's defining module
after, so a path that reaches another function through an import (`lle.models.alen.torch.save`) is refused.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch.nn as nn
from omegaconf import DictConfig, ListConfig


def _network(found: Any) -> bool:
    return inspect.isclass(found) and issubclass(found, nn.Module)


def _lightning_module(found: Any) -> bool:
    import pytorch_lightning as pl

    return inspect.isclass(found) and issubclass(found, pl.LightningModule)


def _optimiser_or_scheduler(found: Any) -> bool:
    import torch.optim

    return inspect.isclass(found) and issubclass(found, torch.optim.Optimizer | torch.optim.lr_scheduler.LRScheduler)


def _function(found: Any) -> bool:
    return inspect.isfunction(found)


# Package prefix → what may be built from it. The object's own module must start with the same prefix.
ALLOWED: dict[str, tuple] = {
    "lle.models.adapters.": (_function, _network),  # `adapted(network=…, adapter=…)` builds a RAW-adapted network
    "lle.models.": (_network,),
    "lle.modules.": (_lightning_module,),
    "lle.losses.": (_network,),
    "lle.schedules.": (_function,),  # learning-rate schedule factories (LambdaLR multipliers)
    "torch.optim.": (_optimiser_or_scheduler,),
}


def refused_target(node: Any) -> str | None:
    """The first `_target_` in `node` (dicts and lists nested at any depth) that lle will not instantiate from a
    saved config, with why; None when every one is allowed."""
    if isinstance(node, DictConfig | dict):
        items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else node.items()
        for key, value in items:
            refused = _check_target(value) if key == "_target_" else refused_target(value)
            if refused:
                return refused
        return None
    if isinstance(node, ListConfig | list | tuple):
        return next((r for r in map(refused_target, node) if r), None)
    return None


def _check_target(target: Any) -> str | None:
    from hydra.utils import get_object

    if not isinstance(target, str):
        return f"_target_ {target!r} is not a dotted name"
    prefix = next((p for p in ALLOWED if target.startswith(p)), None)
    if prefix is None:
        return f"_target_ {target} is outside lle's networks, modules, losses, schedules and torch's optimisers"
    try:
        found = get_object(target)
    except Exception as err:  # noqa: BLE001 — nothing importable there: refuse, saying what was looked for
        return f"_target_ {target} cannot be found ({type(err).__name__})"
    module = getattr(found, "__module__", None) or ""
    if not (module == prefix.rstrip(".") or module.startswith(prefix)) or not any(k(found) for k in ALLOWED[prefix]):
        return f"_target_ {target} is not a class or factory that {prefix.rstrip('.')} defines"
    return None


def check_saved_config(node: Any, source: str) -> None:
    """Raises ValueError naming `source` (the file it came from) where `node` names code lle will not run."""
    refused = refused_target(node)
    if refused:
        raise ValueError(f"{source}: {refused}; lle builds only its own networks from a saved config")
