"""The layout's promises: light imports, one owner per fact, old import paths still working."""

import importlib
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from lle.config import CONFIG_DIR
from lle.metrics import keys


def test_importing_the_networks_needs_no_lightning_hydra_or_wandb():
    script = (
        "import sys, lle, lle.models, lle.models.gladnet, lle.metrics, lle.losses\n"
        "heavy = [m for m in ('pytorch_lightning', 'lightning', 'hydra', 'wandb') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_configs_monitor_the_metric_keys():
    callbacks = OmegaConf.load(f"{CONFIG_DIR}/callbacks/default.yaml")
    assert callbacks.model_checkpoint.monitor == keys.VAL_PSNR
    assert OmegaConf.load(f"{CONFIG_DIR}/train.yaml").optimized_metric == keys.VAL_PSNR_BEST


# (old module, name, new module): modules moved in 0.2.0 keep working under their old paths.
ALIASES = [
    ("lle.train", "train", "lle.cli.train"),
    ("lle.eval", "evaluate", "lle.cli.eval"),
    ("lle.enhance_files", "main", "lle.cli.enhance"),
    ("lle.prepare_sid", "main", "lle.cli.prepare_sid"),
    ("lle.bench.cli", "main", "lle.cli.bench"),
    ("lle.export", "main", "lle.cli.export"),
    ("lle.report", "main", "lle.cli.report"),
    ("lle.checkpoints", "load_lle_checkpoint", "lle.runs.checkpoint"),
    ("lle.loggers", "CSVLogger", "lle.runs.loggers"),
    ("lle.rng", "collect_rng_states", "lle.runs.rng"),
    ("lle.run_outputs", "write_json", "lle.runs.results"),
    ("lle.run_outputs", "PROTOCOL", "lle.metrics.protocol"),
    ("lle.tasks", "check_output_dir", "lle.runs.guard"),
    ("lle.tasks", "guarded", "lle.runs.task"),
    ("lle.complexity", "count_macs", "lle.models.complexity"),
    ("lle.modules.retinex_losses", "decom_loss", "lle.losses.retinex"),
    ("lle.data.sid", "prepare_sid", "lle.data.sid_cache"),
    ("lle.data.sid", "SyntheticRawDataModule", "lle.data.synthetic_raw"),
]


@pytest.mark.parametrize("old,name,new", ALIASES, ids=[f"{o}.{n}" for o, n, _ in ALIASES])
def test_old_import_paths_name_the_same_objects(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_a_checkpoint_of_lle_0_1_still_loads(tmp_path):
    """Schema 1: the RAW adapter was an argument of the module, Retinex-Net's stage keys top-level."""
    from lle.runs.checkpoint import CheckpointMetadata, load_lle_checkpoint, load_lle_network

    net_config = {"_target_": "lle.models.gladnet.GLADNet", "global_channels": 8, "detail_channels": 8}
    adapter = {"in_channels": 4, "upscale": 2}
    module_config = {
        "_target_": "lle.modules.EnhancementModule",
        "net": net_config,
        "optimizer": None,
        "scheduler": None,
        "input_adapter": adapter,
    }
    from lle.models.adapters import PackedRawAdapter
    from lle.models.gladnet import GLADNet

    net = PackedRawAdapter(GLADNet(global_channels=8, detail_channels=8), **adapter)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "old.ckpt"
    torch.save(
        {
            "state_dict": state,
            "retinexnet_stage1_epochs": 3,
            "lle": {"model_name": "gladnet", "model_config": module_config, "data_config": {"in_channels": 4}},
        },
        path,
    )
    module, metadata = load_lle_checkpoint(path)
    assert isinstance(module.net, PackedRawAdapter) and metadata.procedure_state == {"stage1_epochs": 3}
    loaded, _ = load_lle_network(path)
    x = torch.rand(1, 4, 16, 16)
    torch.testing.assert_close(loaded(x), net(x))
    assert CheckpointMetadata.read(torch.load(path, weights_only=False)).schema_version == 2
