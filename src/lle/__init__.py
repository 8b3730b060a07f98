"""lle: an experiment framework for low-light image enhancement research.

Networks live in `lle.models`, data in `lle.data`, training logic in `lle.modules`, and all wiring in
the Hydra configs shipped as `lle/conf` (the repository's top-level `conf/`).
"""

__version__ = "0.1.0"
