"""lle's Optuna sweeper, a Hydra plugin (Hydra only instantiates sweepers from the `hydra_plugins` package).

It is hydra-optuna-sweeper's sweeper with a persistent study: `lle.runs.optuna_study` says how a search is
stored, resumed and numbered. Hydra imports every plugin module at start-up, so Optuna is imported only
when a search actually starts.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper


class ResumableOptunaSweeper(Sweeper):
    """Takes the options of hydra-optuna-sweeper's `OptunaSweeper` (conf/hparams_search/optuna.yaml)."""

    def __init__(self, **options: Any) -> None:
        from lle.runs.optuna_study import ResumableStudySweeper

        self.sweeper = ResumableStudySweeper(**options)

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        return self.sweeper.sweep(arguments)


__all__ = ["ResumableOptunaSweeper"]
