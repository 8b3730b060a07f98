"""A hyperparameter search that survives its own end: the Optuna study lives in a database (by default a SQLite
file in the sweep directory), and starting the same search again continues it.

hydra-optuna-sweeper already opens its study with `load_if_exists=True`; what it does not do is count what is
already there. This sweeper, before the plugin's loop runs:
- runs only the trials the study is missing: `n_trials` is the size of the whole search, not of one invocation;
- numbers the jobs after the trials already stored, so job N (directory `N_<model>`) is Optuna's trial N and a
  resumed search never reaches a finished trial's directory;
- re-queues a trial that a killed search left RUNNING (same parameters, a new trial number), when the study is the
  sweep directory's own file (an in-use marker on the directory, `lle.runs.guard`, says no other search is at work
  on it). A study in a shared database (`storage=postgresql://…`) may have other searches' trials running: those
  are left alone.
- reseeds the sampler when the study already holds trials: the same seed would draw the first trials' random
  parameters again. An uninterrupted search stays reproducible; a resumed one draws new numbers;
- refuses to continue a study with another model, data or objective than the one it was started with.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import optuna
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from optuna.trial import TrialState

from lle.runs.guard import sqlite_file, study_in

log = logging.getLogger("lle")

REQUEUED = "lle_requeued_as"  # user attribute of a trial killed with its search: the trial that reran it
# User attributes of the study: what its trials search (`ResumableStudySweeper._claim`).
STUDY_MODEL, STUDY_DATA, STUDY_OBJECTIVE = "lle_model", "lle_data", "lle_objective"


class ResumableStudySweeper(OptunaSweeperImpl):
    def sweep(self, arguments: list[str]) -> None:
        database = sqlite_file(self.storage)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            directions=self._get_directions(),
            load_if_exists=True,
        )
        self._claim(study)
        trials = study.get_trials(deepcopy=False)
        # What ran to its end (completed, or failed by its job); a trial killed with its search was rerun.
        finished = [t for t in trials if t.state.is_finished() and REQUEUED not in t.user_attrs]
        stale = [t for t in trials if t.state == TrialState.RUNNING]
        self.job_idx = len(trials)  # Optuna numbers trials from 0 in creation order: job N is trial N
        if stale and study_in(Path(str(self.config.hydra.sweep.dir)), self.storage):
            for number, trial in enumerate(stale, start=len(trials)):
                # Optuna 2.x has no public call to annotate a finished trial: its storage's is stable across 2.x.
                study._storage.set_trial_user_attr(trial._trial_id, REQUEUED, number)
                study.tell(trial.number, state=TrialState.FAIL)
                study.enqueue_trial(trial.params)
            log.info(
                "re-queued trial(s) %s, left running by an interrupted search, as trial(s) %s",
                [t.number for t in stale],
                list(range(len(trials), len(trials) + len(stale))),
            )
        total = self.n_trials
        self.n_trials = max(0, total - len(finished))
        if trials:
            if hasattr(self.sampler, "reseed_rng"):
                self.sampler.reseed_rng()
            log.info(
                "continuing study %r (%s): %d of %d trials finished, running %d more",
                study.study_name,
                self.storage,
                len(finished),
                total,
                self.n_trials,
            )
        if self.n_trials == 0 and not any(t.state == TrialState.COMPLETE for t in finished):
            raise ValueError(f"study {study.study_name!r} in {self.storage} has no completed trial to report")
        super().sweep(arguments)

    def _claim(self, study: optuna.Study) -> None:
        """A study belongs to one model, data and objective: the first search stores them in the study, and a
        search that would add trials of another is refused before it runs any, naming both (its best would be
        reported as the other's, and a killed trial would be re-run as another network)."""
        choices = self.config.hydra.runtime.choices
        objective = ", ".join(getattr(d, "name", str(d)).lower() for d in self._get_directions())
        mine = {
            STUDY_MODEL: str(choices.get("model")),
            STUDY_DATA: str(choices.get("data")),
            STUDY_OBJECTIVE: f"{self.config.get('optimized_metric')} ({objective})",
        }
        stored = {key: study.user_attrs[key] for key in mine if key in study.user_attrs}
        if stored and stored != mine:
            differ = [key for key in mine if stored.get(key) != mine[key]]

            def describe(values: dict) -> str:
                return ", ".join(f"{key.removeprefix('lle_')}={values.get(key)}" for key in differ)

            print(  # one block and exit 2, as lle's other refusals before a sweep starts (lle.runs.guard)
                f"error: study {study.study_name!r} in {self.storage} belongs to {describe(stored)}; this search is "
                f"{describe(mine)}: continue it with the same model, data and objective, or give this search its "
                "own hydra.sweep.dir (or hydra.sweeper.study_name)",
                file=sys.stderr,
            )
            raise SystemExit(2)
        for key, value in mine.items():
            study.set_user_attr(key, value)
