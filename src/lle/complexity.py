"""Moved to `lle.models.complexity` (0.2.0); this alias keeps old imports working."""

from lle.models.complexity import MACS_SIZE, count_macs, prefers_channels_last

__all__ = ["MACS_SIZE", "count_macs", "prefers_channels_last"]
