"""lle: an experiment framework for low-light image enhancement research.

The house (docs/developing.md draws it): networks in `lle.models`, data in `lle.data`, training procedures in
`lle.modules`, losses in `lle.losses`, metrics in `lle.metrics`, run bookkeeping in `lle.runs`, entry points in
`lle.cli`, and all wiring in the Hydra configs shipped as `lle/conf`. The inference API is available here:
`lle.load_model(path)` and `lle.enhance(model, image)`, imported on first use so that `import lle.models`
stays free of Lightning, Hydra and wandb.
"""

__version__ = "0.2.0"

__all__ = ["__version__", "enhance", "load_model"]


def __getattr__(name: str):
    if name in ("enhance", "load_model"):
        from lle import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'lle' has no attribute {name!r}")
