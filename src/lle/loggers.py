"""Moved to `lle.runs.loggers` (0.2.0); this alias keeps old imports working."""
