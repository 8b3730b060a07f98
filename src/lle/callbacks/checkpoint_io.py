"""Checkpoints written atomically: a crash while saving never leaves a truncated `last.ckpt` behind."""

from __future__ import annotations

from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from lle.atomic import write_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, writing through `lle.atomic`: readers see the old checkpoint or the new one."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        write_atomic(path, lambda handle: torch.save(checkpoint, handle))
