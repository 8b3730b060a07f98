"""`lle-eval`: evaluate a checkpoint (or a method without weights) on the test split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig

from lle.checkpoints import load_lle_checkpoint
from lle.config import CONFIG_DIR, check_values, register_resolvers
from lle.inference import load_official
from lle.modules import EnhancementModule
from lle.run_outputs import PROTOCOL, write_json, write_per_image_csv
from lle.tasks import check_output_dir, choices, guarded, instantiate_group, record_run

log = logging.getLogger("lle")


@guarded
def evaluate(cfg: DictConfig) -> dict[str, Any]:
    output_dir = Path(cfg.paths.output_dir)
    check_values(cfg)
    check_output_dir(output_dir)  # an evaluation never writes into a training run's directory
    pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("ckpt_path"):
        module, metadata = load_lle_checkpoint(cfg.ckpt_path)
        model_name = metadata.get("model_name")
        chosen = choices().get("model")
        if chosen and chosen != model_name:
            raise ValueError(f"model={chosen} was given but {cfg.ckpt_path} holds a {model_name} checkpoint; "
                             "drop model= (the checkpoint carries its model)")
    elif cfg.get("model_weights"):
        net, info = load_official(cfg.model_weights)
        module, model_name = EnhancementModule(net), info.name
    elif cfg.get("model"):
        module, model_name = instantiate(cfg.model, loss=None), choices().get("model")
        if module.trainable:
            log.warning("evaluating %s with freshly initialised weights (no ckpt_path given)", model_name)
    else:
        raise ValueError("lle-eval needs ckpt_path=<checkpoint>, model_weights=official:<name>:<file> or "
                         "model=<method without weights, e.g. gamma>")

    datamodule = instantiate(cfg.data)
    if cfg.get("save_images"):
        module.save_images_dir = output_dir / "images" / "test"
        module.save_images_dir.mkdir(parents=True, exist_ok=True)
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=instantiate_group(cfg.get("logger")) or False,
                                      callbacks=[])
    if trainer.is_global_zero:
        record_run(cfg, output_dir)
    trainer.test(module, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    result = {"status": "ok", "choice/model": model_name, "choice/data": choices().get("data"),
              "checkpoint": str(cfg.get("ckpt_path") or cfg.get("model_weights") or "") or None,
              "params": sum(p.numel() for p in module.net.parameters()), **metrics, **PROTOCOL}
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", result)
        write_per_image_csv(output_dir / "per_image.csv", module.test_results)
        log.info("metrics: %s → %s", {k: round(v, 4) for k, v in metrics.items()}, output_dir / "metrics.json")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    evaluate(cfg)


def main() -> None:
    register_resolvers()
    _hydra_main()


if __name__ == "__main__":
    main()
