"""The official recipes of Retinexformer and HVI-CIDNet (experiment=retinexformer_lol, cidnet_lol): what each pins,
and a real run of a few steps of each on a generated LOL tree."""

import math

import pytest
import torch
from hydra.utils import instantiate

from conftest import TINY_RUN, compose_config, write_lol_tree
from lle.cli.train import train
from lle.data.batch_transforms import MixUp
from lle.losses import L1Loss
from lle.losses.cidnet import CIDNetLoss
from lle.models.cidnet import rgb_to_hvi

# A few steps on 32² crops of the generated tree; the recipe's other choices stay as composed.
SHORT = [
    *TINY_RUN,
    "data.crop_size=32",
    "data.batch_size=2",
    "data.samples_per_epoch=4",
    "data.num_val=2",
    "data.num_workers=0",
    "trainer.check_val_every_n_epoch=1",
]


def compose(tmp_path, experiment: str, *overrides: str):
    root = write_lol_tree(tmp_path / "LOLdataset", n_train=6, n_test=2)
    overrides = [f"experiment={experiment}", f"data.root={root}", f"paths.log_dir={tmp_path / 'logs'}", *overrides]
    return compose_config("train", overrides, tmp_path / "run")


def optimiser_and_scheduler(module):
    configured = module.configure_optimizers()
    return configured["optimizer"], configured["lr_scheduler"]


def check_short_run(cfg) -> dict:
    result = train(cfg)
    assert result["status"] == "ok" and result["split_sizes"]["val"] == 2  # held out of the 6 training pairs
    assert math.isfinite(result["val/psnr_best"]) and math.isfinite(result["test/psnr"])
    return result


def test_retinexformer_lol_is_the_official_recipe_and_trains(tmp_path):
    cfg = compose(tmp_path, "retinexformer_lol")
    assert (cfg.seed, cfg.data.crop_size, cfg.data.batch_size) == (100, 128, 8)
    assert cfg.trainer.max_epochs * cfg.data.samples_per_epoch // cfg.data.batch_size == 150_000  # total_iter
    assert cfg.data.samples_per_epoch // cfg.data.batch_size == 1000  # an epoch = val_freq
    assert (cfg.trainer.gradient_clip_val, cfg.trainer.gradient_clip_algorithm) == (0.01, "norm")
    module = instantiate(cfg.model, loss=instantiate(cfg.loss))
    assert type(module.loss) is L1Loss
    (mixup,) = module.batch_transforms
    assert isinstance(mixup, MixUp) and (mixup.p, mixup.per_sample) == (0.5, False)
    assert mixup.beta.concentration0.item() == mixup.beta.concentration1.item() == pytest.approx(1.2)
    optimizer, scheduler = optimiser_and_scheduler(module)
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["lr"] == 2e-4
    assert optimizer.defaults["betas"] == (0.9, 0.999) and optimizer.defaults["weight_decay"] == 0
    assert scheduler["interval"] == "step"
    lr = {t: 2e-4 * scheduler["scheduler"].lr_lambdas[0](t) for t in (0, 46000, 150000)}
    assert lr == pytest.approx({0: 2e-4, 46000: 3e-4, 150000: 1e-6})

    check_short_run(compose(tmp_path, "retinexformer_lol", *SHORT))


def test_cidnet_lol_is_the_official_recipe_shares_density_k_and_trains(tmp_path):
    cfg = compose(tmp_path, "cidnet_lol")
    assert (cfg.data.crop_size, cfg.data.batch_size, cfg.trainer.max_epochs) == (256, 8, 1000)
    assert cfg.data.samples_per_epoch // cfg.data.batch_size == math.ceil(485 / 8)  # the official epoch
    assert cfg.trainer.check_val_every_n_epoch == 10 and cfg.trainer.get("gradient_clip_val") is None
    module = instantiate(cfg.model, loss=instantiate(cfg.loss))
    loss = module.loss
    assert type(loss) is CIDNetLoss and loss.vgg is None  # the wo_perc recipe
    weights = (loss.l1_weight, loss.ssim_weight, loss.edge_weight, loss.perceptual_weight, loss.hvi_weight)
    assert weights == (1.0, 0.5, 50.0, 0.0, 1.0)
    # The loss computes HVI with the network's own trainable k, which the optimiser holds once.
    k = module.net.trans.density_k
    assert loss.shares_density_k
    with torch.no_grad():
        k.fill_(0.5)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loss.hvi(x), rgb_to_hvi(x, k))
    optimizer, scheduler = optimiser_and_scheduler(module)
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["lr"] == 1e-4
    assert sum(p is k for group in optimizer.param_groups for p in group["params"]) == 1
    assert scheduler["interval"] == "epoch"
    factor = scheduler["scheduler"].lr_lambdas[0]
    assert [factor(e) for e in (0, 2, 1000)] == pytest.approx([1 / 3, 1.0, 1e-7 / 1e-4])

    cfg = compose(tmp_path, "cidnet_lol", *SHORT)
    result = check_short_run(cfg)
    state = torch.load(result["checkpoint_best"], map_location="cpu", weights_only=False)["state_dict"]
    assert state["net.trans.density_k"].item() != pytest.approx(0.2, abs=1e-7)  # k trained
