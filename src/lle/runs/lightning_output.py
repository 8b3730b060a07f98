"""What of Lightning's console output lle's runs leave out, each filtered precisely (every other message and
warning is kept):

- the "💡 Tip: … try installing litlogger / litmodels" adverts that Lightning logs when a Trainer is made and
  when fitting starts;
- torch's FutureWarning "`isinstance(treespec, LeafSpec)` is deprecated", which Lightning's own pytree helper
  (`pytorch_lightning/utilities/_pytree.py`) triggers at every fit and test: nothing an lle user can act on;
- Lightning's hint that `srun` exists but is not used (`lightning_fabric/plugins/environments/slurm.py`), twice
  per run on every machine with SLURM installed, outside a SLURM allocation: a run there is a local run (lle's
  SLURM jobs start through submitit, which uses srun). Inside an allocation (SLURM_JOB_ID set) it is kept.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

ADVERT_PREFIX = "💡 Tip:"
# The loggers Lightning's rank_zero_info writes to (pytorch_lightning's, and lightning_fabric's before it).
RANK_ZERO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")
LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
SRUN_HINT = r"The `srun` command is available on your system but is not used"


class DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ADVERT_PREFIX)


def quiet_lightning() -> None:
    """Install the filters (once per process; a DDP worker runs the task and installs its own)."""
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropAdverts) for f in logger.filters):
            logger.addFilter(DropAdverts())
    warnings.filterwarnings("ignore", message=LEAFSPEC_WARNING, category=FutureWarning)
    if "SLURM_JOB_ID" not in os.environ:
        warnings.filterwarnings("ignore", message=SRUN_HINT)


@contextmanager
def without_banner() -> Iterator[None]:
    """Lightning's info messages off for a moment: a second Trainer (the baselines' test) would repeat the
    device banner ("GPU available: …") that the run's own Trainer printed; warnings still show."""
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
