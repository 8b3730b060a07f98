"""Moved to `lle.runs.results` (0.2.0); this alias keeps old imports working."""

from lle.atomic import write_text_atomic  # noqa: F401
from lle.metrics.protocol import PROTOCOL  # noqa: F401
from lle.runs.record import environment  # noqa: F401
from lle.runs.results import write_json, write_per_image_csv  # noqa: F401
