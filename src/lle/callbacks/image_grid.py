"""A grid of fixed validation samples, input | output | target (| extra maps), after every validation.

The module's `validation_step` returns `{"pred": …}` and, optionally, `{"visuals": {name: B×C×H×W}}`
(Retinex-Net's reflectance and illumination maps); each visual becomes one more column. The grid is
saved as `<run>/images/val/epoch_NNNN.png` and sent to TensorBoard / W&B when those loggers are used.
Only rank 0 collects and writes.

At test time (lle-eval) the first test images make `<run>/images/test_grid.png` the same way: input |
output | target, or input | output for unpaired data (no target). Test images differ in size, so each row is scaled
to the first row's height, keeping its aspect ratio, and rows are padded to one width.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from lle.data.io import write_image


def _displayable(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """C×H×W → 3×size: 3-channel images as they are, others (packed RAW, 1-channel maps) as gray."""
    image = image.detach().float().cpu()
    if image.shape[0] != 3:
        image = image.mean(0, keepdim=True).expand(3, -1, -1)
    if tuple(image.shape[-2:]) != size:
        image = F.interpolate(image[None], size=size, mode="nearest")[0]
    return image.clamp(0, 1)


class ImageGridLogger(pl.Callback):
    def __init__(self, num_images: int = 4, every_n_epochs: int = 1):
        self.num_images, self.every_n_epochs = num_images, every_n_epochs
        self._rows: list[list[torch.Tensor]] = []
        self.column_names: list[str] = []

    def _active(self, trainer: pl.Trainer) -> bool:
        return (
            trainer.is_global_zero and not trainer.sanity_checking and trainer.current_epoch % self.every_n_epochs == 0
        )

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._rows = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self._active(trainer) or not isinstance(outputs, dict) or len(self._rows) >= self.num_images:
            return
        visuals = outputs.get("visuals", {})
        self.column_names = ["input", "output", "target", *visuals]
        for i in range(min(batch["target"].shape[0], self.num_images - len(self._rows))):
            size = tuple(batch["target"].shape[-2:])
            columns = [batch["input"][i], outputs["pred"][i], batch["target"][i], *(v[i] for v in visuals.values())]
            self._rows.append([_displayable(c, size) for c in columns])

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not self._active(trainer) or not self._rows:
            return
        size = self._rows[0][0].shape[-2:]
        rows = [torch.cat([_displayable(c, tuple(size)) for c in row], dim=2) for row in self._rows]
        grid = torch.cat(rows, dim=1)
        path = Path(trainer.default_root_dir) / "images" / "val" / f"epoch_{trainer.current_epoch:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, grid)
        caption = " | ".join(self.column_names)
        for logger in trainer.loggers:
            if isinstance(logger, pl.loggers.TensorBoardLogger):
                logger.experiment.add_image(f"val/images ({caption})", grid, global_step=trainer.global_step)
            elif isinstance(logger, pl.loggers.WandbLogger):
                logger.log_image(key="val/images", images=[grid], caption=[caption], step=trainer.global_step)

    # --- test (lle-eval) -------------------------------------------------------------------------------
    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._test_rows: list[list[torch.Tensor]] = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        rows = getattr(self, "_test_rows", None)
        if not trainer.is_global_zero or rows is None or not isinstance(outputs, dict) or len(rows) >= self.num_images:
            return
        target = batch.get("target")
        for i in range(min(batch["input"].shape[0], self.num_images - len(rows))):
            size = tuple((target if target is not None else outputs["pred"]).shape[-2:])
            columns = [batch["input"][i], outputs["pred"][i], *([target[i]] if target is not None else [])]
            rows.append([_displayable(c, size) for c in columns])

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        rows = getattr(self, "_test_rows", None)
        if not trainer.is_global_zero or not rows:
            return
        height = rows[0][0].shape[-2]
        scaled = []
        for row in rows:
            h, w = row[0].shape[-2:]
            size = (height, max(1, round(w * height / h)))
            scaled.append(
                torch.cat([F.interpolate(c[None], size=size, mode="bilinear", antialias=True)[0] for c in row], 2)
            )
        width = max(r.shape[-1] for r in scaled)
        grid = torch.cat([F.pad(r, (0, width - r.shape[-1])) for r in scaled], dim=1).clamp(0, 1)
        # Beside images/test/, which holds the saved outputs only (lle-eval save_images=true).
        path = Path(trainer.default_root_dir) / "images" / "test_grid.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, grid)
        caption = "input | output" + (" | target" if len(rows[0]) > 2 else "")
        for logger in trainer.loggers:
            if isinstance(logger, pl.loggers.WandbLogger):
                logger.log_image(key="test/images", images=[grid], caption=[caption])
