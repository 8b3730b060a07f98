"""Moved to `lle.runs.loggers` (0.2.0); this alias keeps old imports working."""

from lle.runs.loggers import (
    CSVLogger,
    continue_logger_runs,
    describe_wandb_runs,
    remember_logger_runs,
    summarize_wandb_runs,
)

__all__ = ["CSVLogger", "continue_logger_runs", "describe_wandb_runs", "remember_logger_runs", "summarize_wandb_runs"]
