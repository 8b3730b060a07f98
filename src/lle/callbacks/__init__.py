"""Lightning callbacks and plugins used by the default configs."""

from lle.callbacks.checkpoint_io import AtomicCheckpointIO
from lle.callbacks.image_grid import ImageGridLogger
from lle.callbacks.model_summary import ModelSummary
from lle.callbacks.preemption import PreemptionCheckpoint
from lle.callbacks.progress_bar import ProgressBar
from lle.callbacks.progress_log import ProgressLog

__all__ = [
    "AtomicCheckpointIO",
    "ImageGridLogger",
    "ModelSummary",
    "PreemptionCheckpoint",
    "ProgressBar",
    "ProgressLog",
]
