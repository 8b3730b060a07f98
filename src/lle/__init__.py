"""lle: an experiment framework for low-light image enhancement research.

Networks live in `lle.models`, data in `lle.data`, training logic in `lle.modules`, and all wiring in
the Hydra configs shipped as `lle/conf` (the repository's top-level `conf/`). The inference API is
re-exported here: `lle.load_model(path)` and `lle.enhance(model, image)`.
"""

__version__ = "0.1.0"

from lle.inference import enhance, load_model  # noqa: E402  (after __version__, which submodules may read)

__all__ = ["__version__", "enhance", "load_model"]
