"""Supervised image-to-image training, shared by every network whose training is plain regression."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.nn as nn
from pytorch_lightning.utilities import rank_zero_warn
from torchmetrics import MaxMetric, MeanMetric

from lle.inference import is_out_of_memory
from lle.metrics import image_metrics, keys
from lle.models.complexity import prefers_channels_last
from lle.runs.checkpoint import RNG_KEY, CheckpointMetadata
from lle.runs.rng import collect_rng_states, restore_rng_states


class EnhancementModule(pl.LightningModule):
    """Trains `net` to map `batch["input"]` to `batch["target"]` with `loss`.

    Args:
        net: the network (`lle.models.*`), which handles padding to its own size multiple; for packed RAW
            data the model config wraps an sRGB network in its adapter (`lle.models.adapters.adapted`).
        loss: `loss(pred, target) -> scalar`; None for classical methods, which are only evaluated. A loss with an
            `attach(net)` method is given the network here, to share its parameters (`CIDNetLoss`).
        optimizer: partial `optimizer(params=...)`; None for methods with nothing to train.
        scheduler: partial `scheduler(optimizer=...)` or None.
        scheduler_interval: step the scheduler every `step` or every `epoch`.
        gt_mean_metrics: also log the GT-mean variants (`val/psnr_gtmean`, …), always under their own keys.
        test_channels_last: test (lle-eval, and the test after training) in the channels_last layout where
            `lle.complexity.prefers_channels_last` says it is faster, as lle-enhance does; the layout changes
            rounding only (float32 sums in another order).
        batch_transforms: callables `t(batch, epoch) -> batch` applied to training batches (e.g. MixUp).

    Logged keys (`lle.metrics.keys`): `train/loss`, `val/psnr`, `val/ssim`, `val/psnr_best`, `test/psnr`,
    `test/ssim` (+ GT-mean), and `test/niqe`, `test/lpips` where `extra_test_metrics` asks for them. Unpaired
    test data (batches without a target) gets only the no-reference metrics.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module | None = None,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        scheduler_interval: str = "step",
        gt_mean_metrics: bool = True,
        batch_transforms: Sequence[Callable] | None = None,
        test_channels_last: bool = True,
    ):
        super().__init__()
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"model.scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
        self.net = net
        self.loss = loss
        if hasattr(loss, "attach"):  # a loss that trains a part of the network too (CIDNetLoss: the HVI density_k)
            loss.attach(net)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self.batch_transforms = list(batch_transforms or [])
        names = keys.IMAGE_METRICS if gt_mean_metrics else keys.REFERENCE_METRICS
        self.val_metrics = nn.ModuleDict({n: MeanMetric() for n in names})
        self.test_metrics = nn.ModuleDict({n: MeanMetric() for n in names})
        self.val_psnr_best = MaxMetric()
        self.gt_mean_metrics = gt_mean_metrics
        self.test_channels_last = test_channels_last
        self.test_results: list[dict[str, Any]] = []  # per-image test metrics, gathered on every rank
        self.save_images_dir: Path | None = None  # set by lle-eval to write the enhanced PNGs
        # NIQE / LPIPS of the test split (lle.metrics.evaluation.TestMetrics), set by lle-eval; None: PSNR/SSIM only.
        self.extra_test_metrics = None
        # Model config, data, protocol: travels in every checkpoint (lle-train sets it; None: nothing stored).
        self.checkpoint_metadata: CheckpointMetadata | None = None

    @property
    def trainable(self) -> bool:
        return self.optimizer_factory is not None and any(p.requires_grad for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # --- training -------------------------------------------------------------------------------
    def training_loss(self, batch: dict) -> torch.Tensor:
        """The loss of one training batch (after the batch transforms); `lle-bench` times exactly this."""
        for transform in self.batch_transforms:
            batch = transform(batch, self.current_epoch)
        return self.loss(self(batch["input"]), batch["target"])

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        if not torch.isfinite(loss):
            # Stop before the optimizer step so non-finite weights are never saved over good ones.
            raise FloatingPointError(
                f"non-finite training loss {loss.item()} at global step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}, images {list(batch.get('name', []))}); "
                "lower the learning rate or check the data"
            )
        self.log(keys.TRAIN_LOSS, loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch["input"].shape[0])
        return loss

    def configure_optimizers(self):
        if not self.trainable:
            return None
        optimizer = self.optimizer_factory(params=[p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        factory = self.scheduler_factory
        if getattr(factory, "keywords", {}).get("total_steps", 0) is None:  # a partial: "as long as the run"
            steps = self.trainer.estimated_stepping_batches
            if not math.isfinite(steps):
                raise ValueError("model.scheduler.total_steps=null needs a run of known length: set trainer.max_epochs")
            factory = functools.partial(factory, total_steps=int(steps))
        scheduler = factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}

    # --- evaluation -----------------------------------------------------------------------------
    def _update_metrics(
        self, pred: torch.Tensor, target: torch.Tensor, metrics: nn.ModuleDict, names: Sequence[str] = ()
    ) -> dict[str, torch.Tensor]:
        values = image_metrics(pred, target, gt_mean=self.gt_mean_metrics)
        broken = ~torch.isfinite(values[keys.PSNR])
        if broken.any():
            # torchmetrics would drop the NaN and average the rest: a diverged network would still get a score
            # (and a checkpoint selected on it).
            which = [names[i] if i < len(names) else str(i) for i in broken.nonzero().flatten().tolist()]
            raise FloatingPointError(
                f"the network's output for {', '.join(which)} is not finite (global step {self.global_step}), so it "
                "has no PSNR; a diverged training (lower the learning rate) or broken weights"
            )
        for name, per_image in values.items():
            metrics[name].update(per_image)
        return values

    def _enhance(self, batch: dict) -> torch.Tensor:
        try:
            return self(batch["input"])
        except (RuntimeError, MemoryError) as err:
            if not is_out_of_memory(err):
                raise
            b, _, h, w = batch["input"].shape
            raise MemoryError(
                f"out of memory enhancing {', '.join(map(str, batch.get('name', [])))} ({h}x{w} input, batch {b}) "
                f"on {batch['input'].device}: evaluate crops (data.eval_crop_size=…), one image at a time "
                "(data.eval_batch_size=1), or on a device with more memory"
            ) from err

    def _evaluate(self, batch: dict, metrics: nn.ModuleDict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pred = self._enhance(batch)
        return pred, self._update_metrics(pred, batch["target"], metrics, batch.get("name", ()))

    def _evaluate_unpaired(self, batch: dict) -> torch.Tensor:
        """Unpaired test data has no target: the output only, checked finite (no PSNR would catch it here)."""
        pred = self._enhance(batch)
        broken = ~torch.isfinite(pred.flatten(1)).all(1)
        if broken.any():
            which = [str(batch["name"][i]) for i in broken.nonzero().flatten().tolist()]
            raise FloatingPointError(f"the network's output for {', '.join(which)} is not finite: broken weights?")
        return pred

    def on_train_start(self) -> None:
        self.val_psnr_best.reset()  # forget the sanity-check validation

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        pred, _ = self._evaluate(batch, self.val_metrics)
        return {"pred": pred}

    def on_validation_epoch_end(self) -> None:
        for name, metric in self.val_metrics.items():
            value = metric.compute()
            if name == keys.PSNR:
                self.val_psnr_best.update(value)
            self.log(keys.key(keys.VAL, name), value, prog_bar=name == keys.PSNR)
            metric.reset()
        self.log(keys.VAL_PSNR_BEST, self.val_psnr_best.compute())

    def test_step(self, batch: dict, batch_idx: int) -> dict:
        if "target" in batch:
            pred, values = self._evaluate(batch, self.test_metrics)
        else:  # unpaired data (lle.data.unpaired): no-reference metrics only
            pred, values = self._evaluate_unpaired(batch), {}
        if self.extra_test_metrics is not None:
            try:
                values.update(self.extra_test_metrics(pred, batch.get("target")))
            except ValueError as err:  # e.g. an image too small for NIQE's 96×96 blocks: say which one
                raise ValueError(f"{', '.join(map(str, batch['name']))}: {err}") from err
        for i, name in enumerate(batch["name"]):
            self.test_results.append({"name": name, **{k: float(v[i]) for k, v in values.items()}})
        if self.save_images_dir is not None:
            from lle.data.io import write_image

            for image, name in zip(pred, batch["name"]):
                write_image(self.save_images_dir / f"{name}.png", image)
        return {"pred": pred}

    def on_test_start(self) -> None:
        # channels_last where it was measured faster (docs/benchmarks.md), as lle-enhance does. Training keeps
        # the default layout; on_test_end restores it.
        if self.test_channels_last and prefers_channels_last(self.net):
            self.net.to(memory_format=torch.channels_last)

    def on_test_end(self) -> None:
        self.net.to(memory_format=torch.contiguous_format)

    def on_test_epoch_start(self) -> None:
        self.test_results = []

    def on_test_epoch_end(self) -> None:
        paired = getattr(getattr(self.trainer, "datamodule", None), "paired", True)
        for name, metric in self.test_metrics.items():
            if paired:  # unpaired data has no PSNR/SSIM: nothing was updated
                self.log(keys.key(keys.TEST, name), metric.compute())
            metric.reset()
        if dist.is_available() and dist.is_initialized():
            gathered: list = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, self.test_results)
            self.test_results = sorted((r for part in gathered for r in part), key=lambda r: r["name"])
        if self.extra_test_metrics is not None:
            # Means over the gathered per-image values: the same on every rank, so no further sync is needed.
            for name in self.extra_test_metrics.names:
                scored = [(r["name"], r[name]) for r in self.test_results if name in r]
                finite = [v for _, v in scored if math.isfinite(v)]
                if len(finite) < len(scored):
                    skipped = [n for n, v in scored if not math.isfinite(v)]
                    rank_zero_warn(f"{name} is undefined for {', '.join(skipped)} (a flat image); left out of its mean")
                if finite:
                    self.log(keys.key(keys.TEST, name), sum(finite) / len(finite))

    # --- checkpoint ------------------------------------------------------------------------------
    def procedure_state(self) -> dict[str, Any]:
        """What this training procedure must keep across a resume, stored in the checkpoint's metadata."""
        return {}

    def restore_procedure_state(self, state: dict[str, Any]) -> None:
        pass

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.checkpoint_metadata is not None:
            self.checkpoint_metadata.procedure_state = self.procedure_state()
            self.checkpoint_metadata.store(checkpoint)
        checkpoint[RNG_KEY] = collect_rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        metadata = CheckpointMetadata.read(checkpoint)
        if metadata is not None:
            # A resumed run keeps the metadata of the run it continues (its W&B run id among them).
            self.checkpoint_metadata = metadata
            self.restore_procedure_state(metadata.procedure_state)
        if RNG_KEY in checkpoint:
            # Resumed training continues the random streams of the interrupted run (exact resume).
            restore_rng_states(checkpoint[RNG_KEY])
