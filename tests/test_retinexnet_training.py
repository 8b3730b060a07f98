"""Retinex-Net's two stages in one real run, on PNG files written by the test."""

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from PIL import Image

import lle.models
import lle.models.retinexnet
from lle.cli.train import train
from lle.models.retinexnet import RetinexNet
from lle.modules import RetinexNetModule
from lle.runs.checkpoint import CheckpointMetadata

SMALL = ["model=retinexnet", "model.net.channel=8"]
DATA = ["data=lol", "data.crop_size=24", "data.batch_size=2", "data.num_val=2", "data.num_workers=0"]


def _data(lol_root: Path) -> list[str]:
    return [*DATA, f"data.root={lol_root}"]


def _weights(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def _initial_state(cfg) -> dict[str, torch.Tensor]:
    """The weights `train(cfg)` starts from (same seed), to see what training changed."""
    pl.seed_everything(cfg.seed, workers=True)
    return {f"net.{k}": v for k, v in instantiate(cfg.model).net.state_dict().items()}


def _logged_per_epoch(run: Path, key: str) -> dict[int, list[float]]:
    """The distinct values of `key` in the run's CSV log, by epoch."""
    values = defaultdict(set)
    with open(run / "csv" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get(key):
                values[int(row["epoch"])].add(float(row[key]))
    return {epoch: sorted(v) for epoch, v in values.items()}


def _assert_grid_shows_the_decomposition(grid: Path, cfg, checkpoint: Path) -> None:
    """The grid's columns are input | output | target | R_low | I_low | Î | R_high | I_high of the first
    validation image, as the checkpoint's network computes them (1-channel maps as gray)."""
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    batch = next(iter(datamodule.val_dataloader()))
    net = instantiate(cfg.model).net
    net.load_state_dict({k.removeprefix("net."): v for k, v in _load(checkpoint)["state_dict"].items()})
    low, high = batch["input"][:1], batch["target"][:1]
    with torch.no_grad():
        out = net.eval().decompose_and_relight(low)
        r_high, i_high = net.decom(high)
    panels = [low, out.enhanced, high, out.reflectance, out.illumination, out.relit_illumination, r_high, i_high]
    pixels = np.asarray(Image.open(grid)).astype(np.float64) / 255
    height, width = low.shape[-2:]
    assert pixels.shape == (height, len(panels) * width, 3)  # one validation image (limit_val_batches=1)
    for column, panel in enumerate(panels):
        expected = panel[0].expand(3, -1, -1).clamp(0, 1).permute(1, 2, 0).double().numpy()
        shown = pixels[:, column * width : (column + 1) * width]
        np.testing.assert_allclose(shown, expected, atol=0.5 / 255 + 1e-6, err_msg=f"grid column {column}")


def _procedure(checkpoint: dict) -> dict:
    """Retinex-Net's stage state as its checkpoints store it."""
    return CheckpointMetadata.read(checkpoint).procedure_state


def test_stage1_trains_only_decomnet_and_stage2_only_relightnet(tiny_train_cfg, lol_root):
    stage1 = tiny_train_cfg(*SMALL, "trainer.max_epochs=1", "model.decom_epochs=1", "test=false", data=_data(lol_root))
    train(stage1)
    run = Path(stage1.paths.output_dir)
    after_stage1 = _load(run / "checkpoints" / "last.ckpt")
    assert _procedure(after_stage1)["stage"] == 1 and _procedure(after_stage1)["stage1_epochs"] == 1
    initial = _initial_state(stage1)
    assert not _equal(_weights(initial, "net.decom."), _weights(after_stage1["state_dict"], "net.decom."))
    assert _equal(_weights(initial, "net.relight."), _weights(after_stage1["state_dict"], "net.relight."))

    # Resume into stage 2: DecomNet stays as stage 1 left it, RelightNet changes.
    last = run / "checkpoints" / "last.ckpt"
    stage2 = tiny_train_cfg(
        *SMALL,
        "trainer.max_epochs=2",
        "model.decom_epochs=1",
        f"ckpt_path={last}",
        output_dir=run,
        data=_data(lol_root),
    )
    result = train(stage2)
    after_stage2 = _load(last)
    assert _procedure(after_stage2)["stage"] == 2 and after_stage2["epoch"] == 1
    assert _equal(
        _weights(after_stage1["state_dict"], "net.decom."), _weights(after_stage2["state_dict"], "net.decom.")
    )
    assert not _equal(
        _weights(after_stage1["state_dict"], "net.relight."), _weights(after_stage2["state_dict"], "net.relight.")
    )
    assert torch.isfinite(torch.tensor(result["test/psnr"]))
    # The decomposition is shown beside the output in the validation grid.
    _assert_grid_shows_the_decomposition(run / "images" / "val" / "epoch_0001.png", stage2, last)


def test_both_stages_and_the_lr_steps_in_one_fit(tiny_train_cfg, lol_root):
    # Two stage-1 epochs and a decay after one, so one fit shows the step and its restart in stage 2.
    cfg = tiny_train_cfg(
        *SMALL,
        "trainer.max_epochs=3",
        "model.decom_epochs=2",
        "model.lr_decay_epoch=1",
        "callbacks.model_checkpoint.save_top_k=-1",
        "callbacks.model_checkpoint.filename='epoch{epoch}'",
        "test=false",
        data=_data(lol_root),
    )
    train(cfg)
    run = Path(cfg.paths.output_dir)
    initial = _initial_state(cfg)
    after_stage1 = _load(run / "checkpoints" / "epoch1.ckpt")["state_dict"]
    after_stage2 = _load(run / "checkpoints" / "epoch2.ckpt")["state_dict"]
    assert not _equal(_weights(initial, "net.decom."), _weights(after_stage1, "net.decom."))
    assert _equal(_weights(initial, "net.relight."), _weights(after_stage1, "net.relight."))
    assert _equal(_weights(after_stage1, "net.decom."), _weights(after_stage2, "net.decom."))
    assert not _equal(_weights(after_stage1, "net.relight."), _weights(after_stage2, "net.relight."))
    assert _logged_per_epoch(run, "train/stage") == {0: [1.0], 1: [1.0], 2: [2.0]}
    lr = pytest.approx  # logged in float32
    assert _logged_per_epoch(run, "train/lr") == {0: lr([1e-3]), 1: lr([1e-4]), 2: lr([1e-3])}


def test_the_official_lr_steps_down_at_stage_epoch_20():
    module = instantiate(lle.models.model_config("retinexnet"))
    assert [module.stage_learning_rate(e) for e in (0, 19, 20, 99)] == [1e-3, 1e-3, 1e-4, 1e-4]


def test_resuming_with_another_max_epochs_keeps_the_stage_boundary(tiny_train_cfg, lol_root):
    # decom_epochs is null: stage 1 is half of max_epochs=2, i.e. one epoch; max_steps stops after it.
    first = tiny_train_cfg(*SMALL, "trainer.max_epochs=2", "+trainer.max_steps=2", "test=false", data=_data(lol_root))
    train(first)
    run = Path(first.paths.output_dir)
    last = run / "checkpoints" / "last.ckpt"
    before = _load(last)
    assert before["epoch"] == 0 and _procedure(before)["stage1_epochs"] == 1
    # Half of the new max_epochs=4 would make epoch 1 a stage-1 epoch again.
    resumed = tiny_train_cfg(
        *SMALL,
        "trainer.max_epochs=4",
        "+trainer.max_steps=4",
        "test=false",
        f"ckpt_path={last}",
        output_dir=run,
        data=_data(lol_root),
    )
    train(resumed)
    after = _load(last)
    assert after["epoch"] == 1 and _procedure(after)["stage"] == 2 and _procedure(after)["stage1_epochs"] == 1
    assert _equal(_weights(before["state_dict"], "net.decom."), _weights(after["state_dict"], "net.decom."))


def test_stage1_length_needs_decom_epochs_without_max_epochs(tiny_train_cfg, lol_root):
    cfg = tiny_train_cfg(*SMALL, "trainer.max_epochs=-1", "+trainer.max_steps=2", "test=false", data=_data(lol_root))
    with pytest.raises(ValueError, match=r"set model\.decom_epochs"):
        train(cfg)


def test_start_at_stage2_from_a_stage1_checkpoint(tiny_train_cfg, lol_root, tmp_path):
    stage1 = tiny_train_cfg(*SMALL, "trainer.max_epochs=1", "model.decom_epochs=1", "test=false", data=_data(lol_root))
    train(stage1)
    ckpt = Path(stage1.paths.output_dir) / "checkpoints" / "last.ckpt"
    decom = _weights(_load(ckpt)["state_dict"], "net.decom.")
    stage2 = tiny_train_cfg(
        *SMALL,
        "trainer.max_epochs=1",
        f"model.decom_checkpoint={ckpt}",
        "test=false",
        data=_data(lol_root),
        output_dir=tmp_path / "stage2",
    )
    train(stage2)
    after = _load(tmp_path / "stage2" / "checkpoints" / "last.ckpt")
    assert _procedure(after)["stage"] == 2 and _procedure(after)["stage1_epochs"] == 0
    assert _equal(decom, _weights(after["state_dict"], "net.decom."))


def test_bm3d_runs_at_test_time_but_not_in_validation(monkeypatch):
    calls = []

    def counting_bm3d(reflectance, sigma):
        calls.append(sigma)
        return reflectance

    monkeypatch.setattr(lle.models.retinexnet, "denoise_reflectance_bm3d", counting_bm3d)
    module = RetinexNetModule(RetinexNet(channel=4, layer_num=1, bm3d_sigma=0.1)).eval()
    batch = {"input": torch.rand(1, 3, 16, 16), "target": torch.rand(1, 3, 16, 16), "name": ["a"]}
    with torch.no_grad():
        module.validation_step(batch, 0)
        assert calls == [] and module.net.bm3d_sigma == 0.1
        module.test_step(batch, 0)
    assert calls == [0.1]


def test_raw_data_is_refused_with_a_clear_message(tiny_train_cfg):
    cfg = tiny_train_cfg(*SMALL, data=["data=synthetic_raw"])
    with pytest.raises(Exception, match=r"Retinex-Net decomposes sRGB images .* data\.input_kind=raw_bayer"):
        train(cfg)
