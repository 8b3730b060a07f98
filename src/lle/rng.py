"""Moved to `lle.runs.rng` (0.2.0); this alias keeps old imports working."""

from lle.runs.rng import collect_rng_states, restore_rng_states  # noqa: F401
