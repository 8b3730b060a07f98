"""OmegaConf resolvers used by the configs, registered by the entry points before Hydra composes."""

from __future__ import annotations

import math
import os
import uuid
import warnings
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

# The configs ship inside the package (src/lle/conf links to the repository's conf/). An absolute
# path works for editable and regular installs alike and needs no __init__.py among the configs.
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")

# conf/hydra/launcher/{joblib,submitit_slurm}.yaml extend the plugins' configs of the same name on purpose, so
# that `hydra/launcher=joblib` gets lle's settings with every plugin option; Hydra warns about that pattern.
warnings.filterwarnings(
    "ignore",
    message=r"\s*'hydra/launcher/(joblib|submitit_slurm)' is validated against "
    r"ConfigStore schema",
    category=UserWarning,
)


def wandb_credentials_available() -> bool:
    """True when W&B could log online: an API key in the environment or a `wandb login` netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def register_resolvers() -> None:
    # use_cache: one value per process, so every place that reads the run directory sees the same suffix.
    if not OmegaConf.has_resolver("lle_uid"):
        OmegaConf.register_new_resolver("lle_uid", lambda: uuid.uuid4().hex[:6], use_cache=True)
    if not OmegaConf.has_resolver("lle_equals"):  # e.g. srgb_input: ${lle_equals:${data.input_kind},srgb}
        OmegaConf.register_new_resolver("lle_equals", lambda a, b: a == b)
    if not OmegaConf.has_resolver("lle_wandb_offline"):
        OmegaConf.register_new_resolver(
            "lle_wandb_offline",
            lambda: os.environ.get("WANDB_MODE") == "offline" or not wandb_credentials_available(),
        )
    from lle.slurm.request import register_resolver as register_slurm_resolver

    register_slurm_resolver()  # ${lle_slurm_gpus:}: the GPUs a SLURM job asks for (conf/hydra/launcher/submitit_slurm)


class UsageError(ValueError):
    """A user's mistake in the options, found before the run starts: the command prints it as one message and
    exits with status 2, and nothing of the run is kept."""


# Values that must be positive wherever they appear in a run's config (learning rates of any optimizer,
# sizes and counts of the data); checked before any work, so the error names the option, not a torch internal.
POSITIVE_KEYS = {"lr", "batch_size", "eval_batch_size", "crop_size", "eval_crop_size"}
NON_NEGATIVE_KEYS = {"num_workers", "weight_decay", "dataset_enlarge_ratio"}
# Values that must be whole numbers (a text or 1.5 fails here, by name, instead of deep inside torch).
INTEGER_KEYS = {
    "seed",
    "batch_size",
    "eval_batch_size",
    "crop_size",
    "eval_crop_size",
    "num_workers",
    "num_val",
    "num_test",
    "samples_per_epoch",
    "dataset_enlarge_ratio",
    "max_epochs",
    "max_steps",
}
NUMBER_KEYS = POSITIVE_KEYS | NON_NEGATIVE_KEYS
# `[low, high]` options whose first value must not exceed the second.
RANGE_KEYS = {
    "ratio_range",
    "shot_range",
    "red_cast_range",
    "blue_cast_range",
    "black_range",
    "scale_range",
    "jpeg_quality_range",
}


def check_values(cfg: DictConfig) -> None:
    """Raise ValueError naming the first option of the wrong type or out of range (`model.optimizer.lr=-0.1`)."""
    for dotted, value in _leaves(cfg, ""):
        key = dotted.rsplit(".", 1)[-1]
        if key in RANGE_KEYS and value is not None:
            if not (isinstance(value, ListConfig) and len(value) == 2 and value[0] <= value[1]):
                raise UsageError(f"{dotted}={value}: expected [low, high] with low ≤ high")
            continue
        if value is None or isinstance(value, (DictConfig, ListConfig)):
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in INTEGER_KEYS and not (number and isinstance(value, int)):
            raise UsageError(f"{dotted}={value!r}: expected a whole number")
        if key in NUMBER_KEYS and not number:
            raise UsageError(f"{dotted}={value!r}: expected a number")
        if key in POSITIVE_KEYS and not (value > 0 and math.isfinite(value)):
            raise UsageError(f"{dotted}={value}: expected a positive, finite number")
        if key in NON_NEGATIVE_KEYS and not (value >= 0 and math.isfinite(value)):
            raise UsageError(f"{dotted}={value}: expected a finite number ≥ 0")


def check_training_length(cfg: DictConfig) -> None:
    """Refuse a training run that cannot train or select a checkpoint: its test would score an untrained network
    (or weights chosen by nothing) as if it were the result."""
    trainer, data = cfg.get("trainer") or {}, cfg.get("data") or {}
    for key in ("max_epochs", "max_steps", "limit_train_batches", "limit_val_batches"):
        if trainer.get(key) == 0:
            raise UsageError(
                f"trainer.{key}=0 leaves nothing to train or to select a checkpoint on; use lle-eval "
                "to evaluate a checkpoint, or train=false to test the network as it is"
            )
    if data.get("num_val") == 0:
        raise UsageError(
            "data.num_val=0 leaves no validation split: checkpoints are selected on it (the test split "
            "is never used for selection); hold out at least one pair"
        )
    if data.get("samples_per_epoch") == 0:
        raise UsageError(
            "data.samples_per_epoch=0 leaves every epoch empty; give a positive number, or null for one pass "
            "over the training set"
        )
    # A run whose epochs all end before the first validation selects nothing (max_steps may end it earlier still).
    every, epochs = trainer.get("check_val_every_n_epoch"), trainer.get("max_epochs")
    if isinstance(every, int) and isinstance(epochs, int) and 1 <= epochs < every:
        raise UsageError(
            f"trainer.check_val_every_n_epoch={every} with trainer.max_epochs={epochs} never validates, so no "
            f"checkpoint would be selected; validate at least once (check_val_every_n_epoch ≤ {epochs})"
        )


def check_top_level_keys(cfg: DictConfig, config_name: str) -> None:
    """Refuse a key added at the top level that no config defines (a misspelt `+modle.lr=…` would be ignored)."""
    primary = OmegaConf.load(Path(CONFIG_DIR) / f"{config_name}.yaml")
    groups = {
        next(iter(entry)).split("@")[0].split("/")[-1] for entry in primary.defaults if isinstance(entry, DictConfig)
    }
    known = (set(primary) - {"defaults"}) | groups | {"hydra"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise UsageError(
            f"unknown top-level option(s) {', '.join(unknown)}; lle-{config_name} knows "
            f"{', '.join(sorted(known - {'hydra'}))}"
        )


def _leaves(node, prefix: str):
    """(dotted key, value) for every value in the config, skipping Hydra's own node and unresolvable values;
    lists are yielded whole and also walked."""
    items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else enumerate(node)
    for key, _ in items:
        dotted = f"{prefix}{key}"
        if dotted == "hydra":
            continue
        try:
            value = node[key]
        except Exception:  # noqa: BLE001 — an interpolation that resolves only in a running Trainer: not ours
            continue
        if isinstance(value, ListConfig):
            yield dotted, value
        if isinstance(value, (DictConfig, ListConfig)):
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value
