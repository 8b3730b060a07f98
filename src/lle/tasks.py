"""Split into `lle.runs` (0.2.0): guard, record, results, task. This alias keeps old imports working."""

from lle.cli.train import run_metadata  # noqa: F401
from lle.runs.guard import RunDirectoryTaken, RunDirectoryUnwritable, check_output_dir  # noqa: F401
from lle.runs.record import record_run  # noqa: F401
from lle.runs.task import choices, choices_or_empty, guarded, instantiate_group, log_hyperparameters  # noqa: F401


def record_failure(output_dir, err):
    """The 0.1 signature of `lle.runs.results.record_failure` (choices taken from the running Hydra job)."""
    from lle.runs.results import record_failure as record

    return record(output_dir, err, choices_or_empty())
