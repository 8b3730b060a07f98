"""Real Trainer runs on real (tiny) data: fit, select, test, eval, resume."""

import json
import math
from pathlib import Path

import pytest
import torch

import lle.models
from conftest import TINY_SYNTHETIC, compose_config
from lle.cli.eval import evaluate
from lle.cli.train import train

# Overrides that make each network small enough for a CPU fast_dev_run. Networks without an entry
# run at full width.
REDUCED = {
    "gladnet": ["model.net.global_channels=8", "model.net.detail_channels=8"],
    "mirnet": ["model.net.n_feat=8"],
    "mirnet_v2": ["model.net.n_feat=16"],
    "absgn": ["model.net.start_channels=8"],
    "retinexformer": ["model.net.n_feat=8"],
    "alen": [],
}


@pytest.mark.parametrize("model", lle.models.available())
def test_fast_dev_run_every_model(model, tiny_train_cfg):
    cfg = tiny_train_cfg(f"model={model}", *REDUCED.get(model, []), "debug=fast_dev_run")
    result = train(cfg)
    assert result["status"] == "ok"
    assert math.isfinite(result["test/psnr"]) and 0 < result["test/ssim"] <= 1


def test_train_writes_run_outputs_and_eval_reproduces_test_metrics(tiny_train_cfg, tmp_path):
    cfg = tiny_train_cfg("model=gladnet", *REDUCED["gladnet"], "trainer.max_epochs=2")
    result = train(cfg)
    run = Path(cfg.paths.output_dir)
    for name in (
        "config.yaml",
        "command.txt",
        "environment.json",
        "metrics.json",
        "per_image.csv",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).is_file(), name
    assert list((run / "images" / "val").glob("epoch_*.png"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["test/psnr"] == pytest.approx(result["test/psnr"])
    assert "val/psnr_best" in metrics and metrics["protocol/selection"].startswith("checkpoint with the best val/psnr")
    assert metrics["choice/model"] == "gladnet" and metrics["params"] > 0

    eval_cfg = compose_config(
        "eval",
        [
            "trainer=cpu",
            "data=synthetic",
            "data.num_test=2",
            "data.eval_crop_size=48",
            "data.eval_batch_size=2",
            f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}",
            "save_images=true",
            "baselines=false",
        ],
        tmp_path / "eval_run",
    )
    evaluated = evaluate(eval_cfg)
    assert evaluated["test/psnr"] == pytest.approx(metrics["test/psnr"], abs=1e-4)
    assert evaluated["test/ssim"] == pytest.approx(metrics["test/ssim"], abs=1e-5)
    assert len(list((tmp_path / "eval_run" / "images" / "test").glob("*.png"))) == 2


def test_resume_from_last_checkpoint_continues_the_run(tiny_train_cfg):
    first = tiny_train_cfg("model=gladnet", *REDUCED["gladnet"], "trainer.max_epochs=1", "test=false")
    train(first)
    run = Path(first.paths.output_dir)
    last = run / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["epoch"] == 0 and state["global_step"] == 2

    resumed = tiny_train_cfg(
        "model=gladnet", *REDUCED["gladnet"], "trainer.max_epochs=2", "test=false", f"ckpt_path={last}", output_dir=run
    )
    train(resumed)
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["epoch"] == 1 and state["global_step"] == 4  # continued, not restarted


def test_a_finished_run_directory_is_never_written_over(tiny_train_cfg, tmp_path):
    cfg = tiny_train_cfg("model=gladnet", *REDUCED["gladnet"], "test=false")
    train(cfg)
    run = Path(cfg.paths.output_dir)
    kept = {p: p.read_bytes() for p in (run / "checkpoints" / "last.ckpt", run / "metrics.json", run / "config.yaml")}
    again = tiny_train_cfg("model=gladnet", *REDUCED["gladnet"], output_dir=run)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(again)
    other = tiny_train_cfg("model=gladnet", *REDUCED["gladnet"], "test=false", output_dir=tmp_path / "other")
    train(other)  # resuming from another run's checkpoint does not make this directory free to use
    resumed_elsewhere = tiny_train_cfg(
        "model=gladnet",
        *REDUCED["gladnet"],
        "trainer.max_epochs=2",
        f"ckpt_path={tmp_path / 'other' / 'checkpoints' / 'last.ckpt'}",
        output_dir=run,
    )
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(resumed_elsewhere)
    with pytest.raises(FileExistsError, match="already holds a run"):  # nor may an evaluation write into it
        evaluate(
            compose_config(
                "eval", ["trainer=cpu", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", *TINY_SYNTHETIC], run
            )
        )
    assert all(p.read_bytes() == content for p, content in kept.items())


def test_resuming_a_finished_run_keeps_its_validation_results(tiny_train_cfg):
    cfg = tiny_train_cfg("model=gladnet", *REDUCED["gladnet"])
    first = train(cfg)
    run = Path(cfg.paths.output_dir)
    again = tiny_train_cfg(
        "model=gladnet", *REDUCED["gladnet"], f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", output_dir=run
    )
    second = train(again)  # nothing is left to train: it tests the selected checkpoint again
    recorded = json.loads((run / "metrics.json").read_text())
    assert second["status"] == "ok" and recorded["val/psnr_best"] == pytest.approx(first["val/psnr_best"])
    assert {k for k in first if k.startswith("val/")} <= set(recorded)
    assert recorded["test/psnr"] == pytest.approx(first["test/psnr"])


def test_resuming_a_run_interrupted_in_its_last_validation_records_every_key(tiny_train_cfg):
    cfg = tiny_train_cfg("model=gladnet", *REDUCED["gladnet"])
    first = train(cfg)
    run = Path(cfg.paths.output_dir)
    # What a SIGTERM during the last validation leaves: last.ckpt at the end of training, no validation results.
    (run / "metrics.json").write_text(json.dumps({"status": "interrupted", "error": "Preempted"}))
    again = tiny_train_cfg(
        "model=gladnet", *REDUCED["gladnet"], f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", output_dir=run
    )
    second = train(again)
    recorded = json.loads((run / "metrics.json").read_text())
    assert second["status"] == "ok" and set(first) <= set(recorded)
    for key in ("val/psnr", "val/ssim", "val/psnr_gtmean", "val/ssim_gtmean", "val/psnr_best", "test/psnr"):
        assert recorded[key] == pytest.approx(first[key], rel=1e-5), key


def test_lol_data_end_to_end(tiny_train_cfg, lol_root):
    cfg = tiny_train_cfg(
        "model=gladnet",
        *REDUCED["gladnet"],
        data=[
            "data=lol",
            f"data.root={lol_root}",
            "data.crop_size=32",
            "data.batch_size=2",
            "data.num_val=2",
            "data.num_workers=0",
        ],
    )
    result = train(cfg)
    # The tiny trainer's limit_test_batches=2 scores 2 of the 3 test pairs, and the counts say so.
    assert result["split_sizes"] == {"train": 6, "val": 2, "test": 2, "test_available": 3}
    assert math.isfinite(result["test/psnr"])


TINY_RAW = [
    "data=synthetic_raw",
    "data.num_scenes=6",
    "data.image_size=[96,144]",
    "data.crop_size=16",
    "data.batch_size=2",
    "data.eval_crop_size=32",
]


@pytest.mark.parametrize("model", ["gladnet", "absgn"])
def test_srgb_networks_train_on_packed_raw_through_the_data_config(model, tiny_train_cfg):
    cfg = tiny_train_cfg(f"model={model}", *REDUCED[model], "debug=fast_dev_run", data=TINY_RAW)
    result = train(cfg)
    assert result["status"] == "ok" and math.isfinite(result["test/psnr"])
    from hydra.utils import instantiate

    module = instantiate(cfg.model, loss=None)
    x = torch.rand(1, 4, 16, 24)
    assert module.net(x).shape == (1, 3, 32, 48)  # packed Bayer in, sRGB at twice the resolution out


@pytest.mark.parametrize("camera", ["Sony", "Fuji"])
def test_alen_on_a_mini_sid_tree_of_dngs(camera, tiny_train_cfg):
    data = {
        "Sony": TINY_RAW,
        "Fuji": [
            "data=synthetic_raw_fuji",
            "data.num_scenes=3",
            "data.crop_size=16",
            "data.batch_size=1",
            "data.eval_crop_size=32",
        ],
    }[camera]
    cfg = tiny_train_cfg("model=alen", "debug=fast_dev_run", data=data)
    result = train(cfg)
    assert result["status"] == "ok" and math.isfinite(result["test/psnr"])


def test_testing_uses_channels_last_and_restores_the_layout():
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from lle.modules import EnhancementModule

    torch.manual_seed(0)
    net = lle.models.build("gladnet", global_channels=8, detail_channels=8)
    weight = next(p for p in net.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1)
    layouts = []

    class RecordLayout(pl.Callback):
        def on_test_batch_start(self, trainer, pl_module, batch, batch_idx):
            layouts.append(weight.is_contiguous(memory_format=torch.channels_last))

    generator = torch.Generator().manual_seed(1)
    pairs = [
        {
            "input": torch.rand(3, 40, 48, generator=generator) * 0.2,
            "target": torch.rand(3, 40, 48, generator=generator),
            "name": f"pair_{i}",
        }
        for i in range(2)
    ]
    results = {}
    for channels_last in (True, False):
        trainer = pl.Trainer(
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[RecordLayout()],
        )
        module = EnhancementModule(net, test_channels_last=channels_last)
        (results[channels_last],) = trainer.test(module, DataLoader(pairs, batch_size=1), verbose=False)
        assert layouts[-2:] == [channels_last] * 2
        assert weight.is_contiguous()  # the default layout is back for training and checkpoints
    # The layout changes the order of float32 sums only.
    assert results[True]["test/psnr"] == pytest.approx(results[False]["test/psnr"], abs=1e-3)
    assert results[True]["test/ssim"] == pytest.approx(results[False]["test/ssim"], abs=1e-5)


def test_out_of_memory_in_evaluation_names_the_images_and_the_options():
    from lle.modules import EnhancementModule

    class Exhausted(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    module = EnhancementModule(Exhausted())
    batch = {"input": torch.zeros(1, 3, 40, 60), "target": torch.zeros(1, 3, 40, 60), "name": ["huge_photo"]}
    with pytest.raises(
        MemoryError, match=r"out of memory enhancing huge_photo \(40x60 input, batch 1\).*eval_crop_size"
    ):
        module._evaluate(batch, module.test_metrics)
