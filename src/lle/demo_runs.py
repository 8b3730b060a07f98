"""Short but real training runs for the notebooks, when they are not given checkpoints of the user's.

`train_demo_sweep(sweep_dir, models)` trains each model on the embedded synthetic data in one `lle-train -m` sweep:
one process, so Lightning's import (about 10 s) is paid once, not once per model. Each network's recipe
(`DEMO_RECIPES`) shrinks it and raises its learning rate so that a few dozen seconds on one CPU thread give an image,
not a constant: the figures then show what a trained network does (brightening, attention that follows the scene),
not an untrained one's flat output. They demonstrate the tools; they are not results. Classical methods (`gamma`,
`he`, …) join a sweep as they are.

The recipes travel as the config group `demo` (one `@package _global_` file a model, written to a temporary folder
on Hydra's search path for the sweep's duration), so each job keeps its own overrides and its run directory is
named after the model.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# Every job: the CPU, no progress bar or summary in a notebook's output, small crops, a quick evaluation.
DEMO_SETTINGS = (
    "trainer=cpu",
    "trainer.num_sanity_val_steps=0",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
    "callbacks.image_grid=null",
    "data.crop_size=48",
    "data.batch_size=4",
    "data.samples_per_epoch=320",  # 80 steps an epoch
    "data.num_val=1",
    "data.num_test=4",
    "data.eval_crop_size=96",
    "data.eval_batch_size=4",
)

# What each network's demonstration changes, on top of DEMO_SETTINGS (the same data for every job of a sweep but
# Retinex-Net's, so that the classical methods' baselines are scored once).
DEMO_RECIPES: dict[str, dict[str, Any]] = {
    # The official two stages, one epoch of 40 batches of 8 each (at 1e-3: the lr drop after epoch 20 never comes).
    "retinexnet": {
        "model": {"net": {"channel": 16}},
        "data": {"batch_size": 8},
        "trainer": {"max_epochs": 2},
    },
    # One recursive residual group of one MSRB, 8 channels; 80 steps at 2e-3, cosine without warm-up.
    "mirnet": {
        "model": {
            "net": {"n_feat": 8, "n_RRG": 1, "n_MSRB": 1},
            "optimizer": {"lr": 2.0e-3},
            "scheduler": {"warmup_steps": 0, "total_steps": None},
        },
        "trainer": {"max_epochs": 1},
    },
    # The whole network (its attention blocks are the point) and its loss; 80 steps at 1e-3, 10× the official lr.
    "alen": {
        "model": {"optimizer": {"lr": 1.0e-3}},
        "trainer": {"max_epochs": 1},
    },
    # 16 channels in both branches; 160 steps of plain L1 (sharper than the official RGB-weighted L1 this early) at
    # 2e-3, twice the official lr, on the official decay.
    "gladnet": {
        "defaults": [{"override /loss": "l1"}],
        "model": {"net": {"global_channels": 16, "detail_channels": 16}, "optimizer": {"lr": 2.0e-3}},
        "trainer": {"max_epochs": 2},
    },
}


def demo_config(model: str) -> str:
    """The `demo/<model>.yaml` file of `model`: its recipe, or the model alone (a classical method)."""
    recipe = dict(DEMO_RECIPES.get(model, {}))
    defaults = [{"override /model": model}, *recipe.pop("defaults", []), "_self_"]
    body = OmegaConf.to_yaml(OmegaConf.create({"defaults": defaults, **recipe}))
    return "# @package _global_\n" + body


def quoted(value: str | Path) -> str:
    """`value` quoted for a Hydra override, so that paths with `=`, commas or spaces stay one value."""
    value = str(value)
    for quote in ("'", '"'):
        if quote not in value:
            return f"{quote}{value}{quote}"
    raise ValueError(f"a path with both kinds of quotes cannot be passed to lle-train: {value}")


def run_lle_train(*overrides: str, multirun: bool = False) -> None:
    """Run `lle-train` as from a terminal (this Python, this environment); raise with its output if it fails."""
    command = [sys.executable, "-m", "lle.cli.train", *(["-m"] if multirun else []), *overrides]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"lle-train failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}")


def train_demo_sweep(sweep_dir: str | Path, models: Sequence[str], *overrides: str) -> dict[str, Path]:
    """Train `models` (networks of `DEMO_RECIPES`, classical methods) in one sweep; return each one's run directory.

    Everything is written under `sweep_dir` (`<sweep_dir>/<model>/`: checkpoints, metrics, logs; the sweep's
    shared baselines). A model whose run finished there before (its `metrics.json` is written) is not trained
    again. `overrides` apply to every job, after the demo settings (e.g. `test=false`).
    """
    sweep_dir = Path(sweep_dir).absolute()
    runs = {model: sweep_dir / model for model in models}
    missing = [model for model, run in runs.items() if not (run / "metrics.json").is_file()]
    if not missing:
        return runs
    with tempfile.TemporaryDirectory(prefix="lle_demo_conf_") as conf:
        (Path(conf) / "demo").mkdir()
        for model in missing:
            (Path(conf) / "demo" / f"{model}.yaml").write_text(demo_config(model))
        run_lle_train(
            f"+demo={','.join(missing)}",
            f"hydra.searchpath=[{quoted('file://' + conf)}]",
            f"hydra.sweep.dir={quoted(sweep_dir)}",
            "hydra.sweep.subdir=${hydra.runtime.choices.demo}",
            f"paths.log_dir={quoted(sweep_dir)}",
            *DEMO_SETTINGS,
            *overrides,
            multirun=True,
        )
    return runs
