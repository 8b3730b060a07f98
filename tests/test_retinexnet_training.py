"""Retinex-Net's two stages in one real run, on PNG files written by the test."""

from pathlib import Path

import torch

from lle.train import train

SMALL = ["model=retinexnet", "model.net.channel=8"]


def _weights(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stage1_trains_only_decomnet_and_stage2_only_relightnet(tiny_train_cfg, lol_root):
    data = ["data=lol", f"data.root={lol_root}", "data.crop_size=24", "data.batch_size=2", "data.num_val=2",
            "data.num_workers=0"]
    stage1 = tiny_train_cfg(*SMALL, "trainer.max_epochs=1", "model.decom_epochs=1", "test=false", data=data)
    train(stage1)
    run = Path(stage1.paths.output_dir)
    after_stage1 = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert after_stage1["retinexnet_stage"] == 1

    # The initial weights of the same seed, to see what stage 1 changed.
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    pl.seed_everything(stage1.seed, workers=True)
    module_initial = instantiate(stage1.model)
    initial = {f"net.{k}": v for k, v in module_initial.net.state_dict().items()}
    assert not _equal(_weights(initial, "net.decom."), _weights(after_stage1["state_dict"], "net.decom."))
    assert _equal(_weights(initial, "net.relight."), _weights(after_stage1["state_dict"], "net.relight."))

    # Resume into stage 2: DecomNet stays as stage 1 left it, RelightNet changes.
    last = run / "checkpoints" / "last.ckpt"
    stage2 = tiny_train_cfg(*SMALL, "trainer.max_epochs=2", "model.decom_epochs=1", f"ckpt_path={last}",
                            output_dir=run, data=data)
    result = train(stage2)
    after_stage2 = torch.load(last, map_location="cpu", weights_only=False)
    assert after_stage2["retinexnet_stage"] == 2 and after_stage2["epoch"] == 1
    assert _equal(_weights(after_stage1["state_dict"], "net.decom."), _weights(after_stage2["state_dict"], "net.decom."))
    assert not _equal(_weights(after_stage1["state_dict"], "net.relight."),
                      _weights(after_stage2["state_dict"], "net.relight."))
    assert torch.isfinite(torch.tensor(result["test/psnr"]))
    # The decomposition is shown beside the output in the validation grid.
    assert list((run / "images" / "val").glob("epoch_0001.png"))


def test_start_at_stage2_from_a_stage1_checkpoint(tiny_train_cfg, lol_root, tmp_path):
    data = ["data=lol", f"data.root={lol_root}", "data.crop_size=24", "data.batch_size=2", "data.num_val=2",
            "data.num_workers=0"]
    stage1 = tiny_train_cfg(*SMALL, "trainer.max_epochs=1", "model.decom_epochs=1", "test=false", data=data)
    train(stage1)
    ckpt = Path(stage1.paths.output_dir) / "checkpoints" / "last.ckpt"
    decom = _weights(torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"], "net.decom.")
    stage2 = tiny_train_cfg(*SMALL, "trainer.max_epochs=1", f"model.decom_checkpoint={ckpt}", "test=false",
                            data=data, output_dir=tmp_path / "stage2")
    train(stage2)
    after = torch.load(tmp_path / "stage2" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert after["retinexnet_stage"] == 2
    assert _equal(decom, _weights(after["state_dict"], "net.decom."))


def test_raw_data_is_refused_with_a_clear_message(tiny_train_cfg):
    import pytest

    cfg = tiny_train_cfg(*SMALL, data=["data=synthetic_raw"])
    with pytest.raises(Exception, match="Retinex-Net decomposes sRGB images .* data.input_kind=raw_bayer"):
        train(cfg)
