"""Moved to `lle.runs.checkpoint` (0.2.0); this alias keeps old imports working."""

from lle.runs.checkpoint import COMPILE_PREFIX, load_lle_checkpoint, strip_compile_prefix

__all__ = ["COMPILE_PREFIX", "load_lle_checkpoint", "strip_compile_prefix"]
