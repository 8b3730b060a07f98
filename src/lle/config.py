"""OmegaConf resolvers used by the configs, registered by the entry points before Hydra composes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from omegaconf import OmegaConf

# The configs ship inside the package (src/lle/conf links to the repository's conf/). An absolute
# path works for editable and regular installs alike and needs no __init__.py among the configs.
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")


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
