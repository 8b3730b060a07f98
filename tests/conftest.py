"""Fixtures shared by the tests: real image files written to tmp_path, and the real configs composed by Hydra."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from PIL import Image

from lle.config import register_resolvers

CONFIG_DIR = str(resources.files("lle") / "conf")

torch.set_num_threads(2)


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_pair(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth 'normal-light' image and a dark, noisy version of it."""
    yy, xx = np.mgrid[0:height, 0:width]
    phase = rng.uniform(0, 6.28, size=3)
    high = np.stack([0.5 + 0.4 * np.sin(xx / (5 + 3 * c) + yy / 7 + phase[c]) for c in range(3)], axis=-1)
    low = np.clip(high * 0.12 + rng.normal(0, 0.01, high.shape), 0, 1)
    return (low * 255).round().astype(np.uint8), (high * 255).round().astype(np.uint8)


def write_lol_tree(
    root: Path,
    n_train: int = 8,
    n_test: int = 3,
    size: tuple[int, int] = (48, 64),
    layout: str = "lol_v1",
    seed: int = 0,
) -> Path:
    """A miniature LOL dataset of real PNG files: our485/{low,high} and eval15/{low,high}."""
    rng = np.random.default_rng(seed)
    dirs = {
        "lol_v1": ("our485/low", "our485/high", "eval15/low", "eval15/high"),
        "retinexformer": ("Train/input", "Train/target", "Test/input", "Test/target"),
        "lol_v2_real": ("Train/Low", "Train/Normal", "Test/Low", "Test/Normal"),
    }[layout]
    for split, count, offset in (("train", n_train, 1), ("test", n_test, 500)):
        low_dir, high_dir = (dirs[0], dirs[1]) if split == "train" else (dirs[2], dirs[3])
        for i in range(offset, offset + count):
            low, high = make_pair(rng, *size)
            low_name, high_name = (
                (f"low{i:05d}.png", f"normal{i:05d}.png") if layout == "lol_v2_real" else (f"{i}.png", f"{i}.png")
            )
            write_png(root / low_dir / low_name, low)
            write_png(root / high_dir / high_name, high)
    return root


@pytest.fixture
def lol_root(tmp_path: Path) -> Path:
    return write_lol_tree(tmp_path / "LOLdataset")


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose a real lle config as the CLI would, with Hydra's runtime set so interpolations resolve."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


# Small and fast: a CPU run of a few steps on tiny crops.
TINY_RUN = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=2",
    "trainer.num_sanity_val_steps=0",
    "trainer.log_every_n_steps=1",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
    "baselines=false",  # the comparison with the baselines is tested in test_baselines.py
]
# GLADNet at width 8: the networks' tests name it (the default model is alen_quick).
SMALL_GLADNET = ["model=gladnet", "model.net.global_channels=8", "model.net.detail_channels=8"]
TINY_SYNTHETIC = [
    "data=synthetic",
    "data.crop_size=32",
    "data.batch_size=2",
    "data.samples_per_epoch=4",
    "data.num_val=2",
    "data.num_test=2",
    "data.eval_crop_size=48",
    "data.eval_batch_size=2",
]

# The two-process runs (tests/test_scaling.py, tests/slurm): 8 training samples an epoch, 2 epochs; 3 validation and
# 3 test images (odd: no rank may pad with duplicates).
NODES_DATA = [
    *[a for a in TINY_RUN if not a.startswith(("trainer=", "trainer.max_epochs"))],
    "trainer.max_epochs=2",
    *[a for a in TINY_SYNTHETIC if not a.startswith(("data.num_", "data.eval_batch_size", "data.batch_size"))],
    "data.samples_per_epoch=8",
    "data.num_val=3",
    "data.num_test=3",
    "data.eval_batch_size=1",
    "trainer.limit_val_batches=null",
    "trainer.limit_test_batches=null",
    *SMALL_GLADNET,
    "callbacks.image_grid=null",
]


@pytest.fixture
def tiny_train_cfg(tmp_path: Path):
    def make(*overrides: str, output_dir: Path | None = None, data: list[str] = TINY_SYNTHETIC) -> DictConfig:
        out = output_dir or tmp_path / "run"
        return compose_config("train", [*TINY_RUN, *data, f"paths.log_dir={tmp_path / 'logs'}", *overrides], out)

    return make


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """best.ckpt of a tiny GLADNet trained once per test session (for inference, export, enhance tests)."""
    from lle.cli.train import train

    root = tmp_path_factory.mktemp("tiny_gladnet")
    train(
        compose_config(
            "train",
            [
                *TINY_RUN,
                *TINY_SYNTHETIC,
                *SMALL_GLADNET,
                "test=false",
                f"paths.log_dir={root / 'logs'}",
            ],
            root / "run",
        )
    )
    return root / "run" / "checkpoints" / "best.ckpt"
