import functools
import itertools
import math

import pytest
import torch
from hydra.utils import instantiate

from lle.losses import CharbonnierLoss, L1SSIMLoss, RGBWeightedL1
from lle.metrics import ssim_map


def test_rgb_weighted_l1_uses_the_official_channel_order():
    pred, target = torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    pred[:, 0] = 1.0  # error only in R
    # mean over N·C·H·W elements of |d|·w_c: 4 pixels of R error × 0.11448 / 12 elements
    assert float(RGBWeightedL1()(pred, target)) == pytest.approx(4 * 0.11448 / 12)
    luma = RGBWeightedL1(channel_weights=(0.29891, 0.58661, 0.11448))
    assert float(luma(pred, target)) == pytest.approx(4 * 0.29891 / 12)


def test_charbonnier_on_clamped_prediction():
    target = torch.zeros(1, 1, 1, 2)
    pred = torch.tensor([[[[2.0, -1.0]]]])  # clamps to 1 and 0
    expected = (torch.sqrt(torch.tensor(1.0 + 1e-6)) + 1e-3) / 2
    assert float(CharbonnierLoss()(pred, target)) == pytest.approx(float(expected), rel=1e-6)
    assert float(CharbonnierLoss(clamp_prediction=False)(pred, target)) > float(expected)


def test_l1_ssim_combination_and_gradient():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 24, 24)
    pred = (target + 0.1 * torch.randn_like(target)).requires_grad_()
    loss = L1SSIMLoss(l1_weight=0.85, ssim_weight=0.15)(pred, target)
    expected = 0.85 * (pred - target).abs().mean() + 0.15 * (1 - ssim_map(pred, target).mean())
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert float(L1SSIMLoss()(target, target)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", ["l1", "charbonnier", "rgb_weighted_l1", "l1_ssim"])
def test_every_loss_config_instantiates_and_is_zero_on_identical_images(name, tiny_train_cfg):
    cfg = tiny_train_cfg(f"loss={name}")
    loss = instantiate(cfg.loss)
    x = torch.rand(1, 3, 16, 16)
    assert float(loss(x, x)) == pytest.approx(0.0, abs=2e-3)  # Charbonnier: ε = 1e-3


def test_l1_msssim_reduces_scales_for_small_patches_and_is_zero_on_identical_images():
    from lle.losses import L1MSSSIMLoss

    torch.manual_seed(0)
    loss = L1MSSSIMLoss()
    for size in (48, 200):  # 48 px allows 3 scales, 200 px all 5
        x = torch.rand(2, 3, size, size)
        assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-5)
        noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
        assert 0 < float(loss(noisy, x)) < 1


def test_step_factors_schedule_gives_each_decay_its_own_factor():
    from lle.schedules import step_factors

    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-4)
    sched = step_factors(opt, milestones=[2, 4, 6], factors=[0.1, 0.02, 0.01])
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1e-4, 1e-4, 1e-5, 1e-5, 2e-6, 2e-6, 1e-6])


def test_warmup_cosine_rises_linearly_then_anneals_to_the_floor():
    from lle.schedules import warmup_cosine

    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-4)
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=14, min_lr=1e-6)
    lrs = []
    for _ in range(16):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([5e-5, 1e-4, 1.5e-4, 2e-4])  # (step + 1) / warm-up steps
    assert lrs[4] == pytest.approx(2e-4)  # the cosine starts at the base lr
    assert lrs[9] == pytest.approx(1e-6 + (2e-4 - 1e-6) * 0.5)  # half-way through the cosine
    assert lrs[14:] == pytest.approx([1e-6, 1e-6])  # then stays at min_lr
    assert all(a >= b for a, b in itertools.pairwise(lrs[4:]))


def test_cosine_restarts_follows_basicsr_cyclic_formula_at_the_boundaries():
    from lle.schedules import cosine_restarts

    def official(t, base=2e-4, periods=(46000, 104000), weights=(1, 1), etas=(3e-4, 1e-6)):
        """CosineAnnealingRestartCyclicLR.get_lr as its docstring's formula states it (BasicSR, Retinexformer)."""
        i = 0 if t <= periods[0] else 1
        start = 0 if i == 0 else periods[0]
        return etas[i] + weights[i] * 0.5 * (base - etas[i]) * (1 + math.cos(math.pi * (t - start) / periods[i]))

    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-4)
    factor = cosine_restarts(opt, [46000, 104000], [1, 1], [3e-4, 1e-6]).lr_lambdas[0]
    lr = {t: 2e-4 * factor(t) for t in (0, 23000, 45999, 46000, 46001, 98000, 149999, 150000, 150001, 200000)}
    assert lr[0] == pytest.approx(2e-4, rel=1e-12)  # the base lr: no warm-up
    assert lr[23000] == pytest.approx(2.5e-4, rel=1e-12)  # half-way up the first cycle's rise to 3e-4
    assert lr[46000] == pytest.approx(3e-4, rel=1e-12)  # the end of cycle 0 belongs to it
    assert lr[46001] == pytest.approx(official(46001), rel=1e-12) and lr[46001] < 2e-4  # the restart
    assert lr[150000] == pytest.approx(1e-6, rel=1e-12)
    assert lr[150001] == lr[200000] == pytest.approx(1e-6, rel=1e-12)  # held past the last cycle
    for t in (45999, 98000, 149999):
        assert lr[t] == pytest.approx(official(t), rel=1e-12)

    # Stepped as a scheduler, with a restart weight below 1: the cycle restarts at η + w·(base − η).
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = cosine_restarts(opt, [2, 4], [1, 0.5], [0.0, 0.1])
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    cycle1 = [0.1 + 0.5 * 0.5 * 0.9 * (1 + math.cos(math.pi * k / 4)) for k in (1, 2, 3, 4)]
    assert lrs == pytest.approx([1.0, 0.5, 0.0, *cycle1, 0.1])
    with pytest.raises(ValueError, match="one restart weight"):
        cosine_restarts(opt, [2, 4], [1], [0.0, 0.1])


def test_a_cosine_without_total_steps_lasts_as_long_as_the_run(tmp_path):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    from lle.modules import EnhancementModule
    from lle.schedules import warmup_cosine

    with pytest.raises(ValueError, match="total_steps"):
        warmup_cosine(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), 2, None)

    class LR(pl.Callback):
        def __init__(self):
            self.lrs = []

        def on_train_batch_start(self, trainer, *args):
            self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    torch.manual_seed(0)
    data = [{"input": torch.rand(3, 8, 8), "target": torch.rand(3, 8, 8), "name": f"{i}"} for i in range(6)]
    module = EnhancementModule(
        net=torch.nn.Conv2d(3, 3, 3, padding=1),
        loss=torch.nn.L1Loss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=1.0),
        scheduler=functools.partial(warmup_cosine, warmup_steps=2, total_steps=None),
    )
    lrs = LR()
    trainer = pl.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[lrs],
        default_root_dir=tmp_path,
        limit_val_batches=0,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(data, batch_size=2))  # 3 steps an epoch: 9 steps
    assert len(lrs.lrs) == 9
    assert lrs.lrs[:2] == pytest.approx([0.5, 1.0])
    assert lrs.lrs[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 6 / 7)))  # step 8 of a cosine ending at 9
