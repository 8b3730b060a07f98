"""OmegaConf resolvers used by the configs, registered by the entry points before Hydra composes."""

from __future__ import annotations

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


# Values that must be positive wherever they appear in a run's config (learning rates of any optimizer,
# sizes and counts of the data); checked before any work, so the error names the option, not a torch internal.
POSITIVE_KEYS = {"lr", "batch_size", "crop_size", "eval_crop_size"}
NON_NEGATIVE_KEYS = {"num_workers", "weight_decay", "dataset_enlarge_ratio"}


def check_values(cfg: DictConfig) -> None:
    """Raise ValueError naming the first out-of-range option (e.g. `model.optimizer.lr=-0.1`)."""
    for dotted, value in _numbers(cfg, ""):
        key = dotted.rsplit(".", 1)[-1]
        if key in POSITIVE_KEYS and not value > 0:
            raise ValueError(f"{dotted}={value}: expected a positive number")
        if key in NON_NEGATIVE_KEYS and not value >= 0:
            raise ValueError(f"{dotted}={value}: expected a number ≥ 0")


def _numbers(node, prefix: str):
    """(dotted key, value) for every number in the config, skipping Hydra's own node and unresolvable values."""
    items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else enumerate(node)
    for key, _ in items:
        dotted = f"{prefix}{key}"
        if dotted == "hydra":
            continue
        try:
            value = node[key]
        except Exception:  # noqa: BLE001 — an interpolation that resolves only in a running Trainer: not ours
            continue
        if isinstance(value, (DictConfig, ListConfig)):
            yield from _numbers(value, dotted + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield dotted, value
