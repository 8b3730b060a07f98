"""Retinex-Net's two-stage training (Wei et al., BMVC 2018; docs/specs/retinexnet.md §3.3–3.4).

Stage 1 trains DecomNet on low/normal pairs with the decomposition loss; stage 2 freezes it and trains
RelightNet with the relighting loss. Both stages run in one `lle-train` run: the stage-1 length is fixed
when training first starts and kept in the checkpoint, so a resumed run (even with another
`trainer.max_epochs`) keeps its stage boundary and never retrains stage 1. Each stage has its own Adam
optimizer, with lr 1e-3 for its first `lr_decay_epoch` epochs and 1e-4 after (official).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_warn

from lle.losses.retinex import decom_loss, relight_loss
from lle.metrics import keys
from lle.models.interface import SRGB
from lle.modules.enhancement import EnhancementModule


@contextlib.contextmanager
def bm3d_disabled(net: torch.nn.Module) -> Iterator[None]:
    """`net` (a RetinexNet) without its test-time BM3D step, e.g. for validation."""
    sigma, net.bm3d_sigma = net.bm3d_sigma, None
    try:
        yield
    finally:
        net.bm3d_sigma = sigma


class RetinexNetModule(EnhancementModule):
    """Args:
        net: `lle.models.retinexnet.RetinexNet`.
        decom_epochs: stage-1 epochs; None gives half of `trainer.max_epochs` (the official 100 of 200),
            which needs a finite max_epochs. The remaining epochs are stage 2. Fixed when training first
            starts: a resumed run keeps the boundary stored in its checkpoint.
        lr, lr_decay_epoch, lr_after: the per-stage step schedule.
        decom_loss / relight_loss: keyword arguments of `lle.losses.retinex.decom_loss` / `relight_loss`.
        decom_checkpoint: an lle Retinex-Net checkpoint whose DecomNet is loaded; training then starts at
            stage 2 (all epochs relight RelightNet).
        input_kind: the data's input kind (from the data config); only sRGB is meaningful.

    Validation PSNR measures the enhanced output S = R·Î, which only means something once RelightNet is
    trained: during stage 1 `val/psnr` is logged as −inf, so the best checkpoint always comes from stage 2.
    The optional BM3D step (`net.bm3d_sigma`) runs at test and predict time only: validation, which
    selects the checkpoint, measures the network itself.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        decom_epochs: int | None = None,
        lr: float = 1e-3,
        lr_decay_epoch: int = 20,
        lr_after: float = 1e-4,
        decom_loss: dict | None = None,
        relight_loss: dict | None = None,
        decom_checkpoint: str | None = None,
        loss: Any = None,
        gt_mean_metrics: bool = True,
        input_kind: str = SRGB,
        test_channels_last: bool = True,
    ):
        if input_kind != SRGB:
            raise ValueError(
                f"Retinex-Net decomposes sRGB images into reflectance and illumination; it cannot "
                f"train on data.input_kind={input_kind} (use an sRGB dataset, or another model)"
            )
        # The optimizers are built here, so the generic module's optimizer factory is a placeholder.
        super().__init__(
            net,
            loss=None,
            optimizer=torch.optim.Adam,
            gt_mean_metrics=gt_mean_metrics,
            test_channels_last=test_channels_last,
        )
        if lr <= 0 or lr_after <= 0:
            raise ValueError(f"model.lr and model.lr_after must be positive, got {lr} and {lr_after}")
        self.automatic_optimization = False
        self.decom_epochs, self.lr, self.lr_decay_epoch, self.lr_after = decom_epochs, lr, lr_decay_epoch, lr_after
        self.decom_loss_args, self.relight_loss_args = dict(decom_loss or {}), dict(relight_loss or {})
        self.decom_checkpoint = decom_checkpoint
        if decom_checkpoint:
            self.decom_epochs = 0  # DecomNet comes trained: every epoch relights
        self.stage1_epochs: int | None = None  # fixed in on_train_start, or restored from a checkpoint

    def setup(self, stage: str) -> None:
        # Loaded when training starts (not when a module is rebuilt from a checkpoint's config); a resumed
        # run then restores its own weights over these.
        if stage == "fit" and self.decom_checkpoint:
            state = torch.load(self.decom_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
            decom_state = {k.removeprefix("net.decom."): v for k, v in state.items() if k.startswith("net.decom.")}
            if not decom_state:
                raise ValueError(f"{self.decom_checkpoint} holds no Retinex-Net DecomNet weights (net.decom.*)")
            self.net.decom.load_state_dict(decom_state)

    # --- stages ---------------------------------------------------------------------------------
    def _stage1_epochs_from_config(self) -> int:
        if self.decom_epochs is not None:
            return self.decom_epochs
        max_epochs = self.trainer.max_epochs
        if max_epochs is None or max_epochs < 0:
            raise ValueError(
                f"model.decom_epochs is null, so stage 1 would last half of trainer.max_epochs, but "
                f"trainer.max_epochs={max_epochs}: set model.decom_epochs (official: 100)"
            )
        return max(max_epochs // 2, 1)

    def on_train_start(self) -> None:
        super().on_train_start()
        if self.stage1_epochs is None:
            self.stage1_epochs = self._stage1_epochs_from_config()
        elif self.decom_epochs is not None and self.decom_epochs != self.stage1_epochs:
            rank_zero_warn(
                f"the resumed run keeps its stage 1 of {self.stage1_epochs} epochs; "
                f"model.decom_epochs={self.decom_epochs} is ignored"
            )

    @property
    def stage(self) -> int:
        """1 while DecomNet trains, 2 after; 2 outside training, where the network is used as it is."""
        if self._trainer is None or self.trainer.state.fn != TrainerFn.FITTING or self.stage1_epochs is None:
            return 2
        return 1 if self.current_epoch < self.stage1_epochs else 2

    def stage_learning_rate(self, stage_epoch: int) -> float:
        """The official step schedule, restarted in each stage: `lr`, then `lr_after` from `lr_decay_epoch`."""
        return self.lr if stage_epoch < self.lr_decay_epoch else self.lr_after

    def on_train_epoch_start(self) -> None:
        stage_epoch = self.current_epoch - (0 if self.stage == 1 else self.stage1_epochs)
        lr = self.stage_learning_rate(stage_epoch)
        for group in self.optimizers()[self.stage - 1].param_groups:
            group["lr"] = lr
        self.log("train/lr", lr, on_step=False, on_epoch=True)
        self.net.decom.train(self.stage == 1)  # frozen in stage 2

    def configure_optimizers(self):
        return [
            torch.optim.Adam(self.net.decom.parameters(), lr=self.lr),
            torch.optim.Adam(self.net.relight.parameters(), lr=self.lr),
        ]

    # --- training -------------------------------------------------------------------------------
    def stage_loss(self, batch: dict, stage: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of `stage` on one batch and its terms; `lle-bench` times exactly this."""
        low, high = batch["input"], batch["target"]
        if stage == 1:
            r_low, i_low = self.net.decom(low)
            r_high, i_high = self.net.decom(high)
            return decom_loss(low, high, r_low, i_low, r_high, i_high, **self.decom_loss_args)
        with torch.no_grad():
            r_low, i_low = self.net.decom(low)
        return relight_loss(high, r_low, self.net.relight(r_low, i_low), **self.relight_loss_args)

    def training_loss(self, batch: dict) -> torch.Tensor:
        return self.stage_loss(batch, self.stage)[0]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, terms = self.stage_loss(batch, self.stage)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite stage-{self.stage} loss at global step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}, images {list(batch['name'])})"
            )
        optimizer = self.optimizers()[self.stage - 1]
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        size = batch["input"].shape[0]
        self.log(keys.TRAIN_LOSS, loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("train/stage", float(self.stage), on_step=True, on_epoch=False, batch_size=size)
        for name, value in terms.items():
            self.log(f"train/stage{self.stage}_{name}", value, on_step=False, on_epoch=True, batch_size=size)
        return loss

    # --- evaluation -----------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        with bm3d_disabled(self.net):  # BM3D takes seconds per image and is not what training optimises
            out = self.net.decompose_and_relight(batch["input"])
        r_high, i_high = self.net.decom(batch["target"])
        self._update_metrics(out.enhanced, batch["target"], self.val_metrics, batch.get("name", ()))
        visuals = {
            "R_low": out.reflectance,
            "I_low": out.illumination,
            "I_hat": out.relit_illumination,
            "R_high": r_high,
            "I_high": i_high,
        }
        return {"pred": out.enhanced, "visuals": visuals}

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or self.stage == 2 or self.trainer.state.fn != TrainerFn.FITTING:
            super().on_validation_epoch_end()
            return
        for metric in self.val_metrics.values():
            metric.reset()
        self.log(keys.VAL_PSNR, -math.inf, prog_bar=True)  # RelightNet is not trained yet
        self.log(keys.VAL_PSNR_BEST, self.val_psnr_best.compute())

    # --- checkpoint ------------------------------------------------------------------------------
    def procedure_state(self) -> dict[str, Any]:
        return {"stage": self.stage, "stage1_epochs": self.stage1_epochs}

    def restore_procedure_state(self, state: dict[str, Any]) -> None:
        # Checkpoints from before the boundary was stored leave it to on_train_start.
        self.stage1_epochs = state.get("stage1_epochs", self.stage1_epochs)
