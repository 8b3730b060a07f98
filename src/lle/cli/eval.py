"""`lle-eval`: evaluate a checkpoint (or a method without weights) on the test split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig

from lle.callbacks.image_grid import ImageGridLogger
from lle.config import CONFIG_DIR, UsageError, check_top_level_keys, check_values, register_resolvers
from lle.inference import load_official
from lle.metrics import keys
from lle.metrics.evaluation import TestMetrics
from lle.modules import EnhancementModule
from lle.runs.checkpoint import load_lle_checkpoint, read_metadata_of_option
from lle.runs.guard import check_output_dir
from lle.runs.loggers import check_logger_packages, summarize_wandb_runs
from lle.runs.record import record_run
from lle.runs.results import final_metrics, run_result, write_json, write_per_image_csv
from lle.runs.task import choices, guarded, instantiate_group, run_as_command

log = logging.getLogger("lle")


def _module_to_evaluate(cfg: DictConfig, chosen: str | None) -> tuple[pl.LightningModule, str | None]:
    if cfg.get("ckpt_path"):
        module, metadata = load_lle_checkpoint(cfg.ckpt_path)
        if chosen and chosen != metadata.model_name:
            raise ValueError(
                f"model={chosen} was given but {cfg.ckpt_path} holds a {metadata.model_name} "
                "checkpoint; drop model= (the checkpoint carries its model)"
            )
        return module, metadata.model_name
    if cfg.get("model_weights"):
        net, info = load_official(cfg.model_weights)
        return EnhancementModule(net), info.name
    if cfg.get("model"):
        module = instantiate(cfg.model, loss=None)
        if module.trainable:
            log.warning("evaluating %s with freshly initialised weights (no ckpt_path given)", chosen)
        return module, chosen
    raise ValueError(
        "lle-eval needs ckpt_path=<checkpoint>, model_weights=official:<name>:<file> or "
        "model=<method without weights, e.g. gamma>"
    )


@guarded
def evaluate(cfg: DictConfig) -> dict[str, Any]:
    output_dir = Path(cfg.paths.output_dir)
    check_top_level_keys(cfg, "eval")
    check_values(cfg)
    if cfg.get("ckpt_path") and cfg.get("model_weights"):
        raise UsageError("give ckpt_path (an lle checkpoint) or model_weights (an official weight file), not both")
    if cfg.get("ckpt_path"):
        read_metadata_of_option("ckpt_path", cfg.ckpt_path)
    if cfg.get("model_weights"):
        weights = Path(str(cfg.model_weights).split(":", 2)[-1])
        if not weights.is_file():
            raise UsageError(f"model_weights={cfg.model_weights}: no such file {weights}")
    check_logger_packages(cfg)
    check_output_dir(output_dir)  # an evaluation never writes into a training run's directory
    pl.seed_everything(cfg.seed, workers=True)
    picked = choices()
    module, model_name = _module_to_evaluate(cfg, picked.get("model"))

    datamodule = instantiate(cfg.data)
    paired = getattr(datamodule, "paired", True)
    try:  # model files are found (or their absence explained) before any work
        module.extra_test_metrics = TestMetrics(paired, **(cfg.get("metrics") or {}))
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from err
    if cfg.get("save_images"):
        module.save_images_dir = output_dir / "images" / "test"
        module.save_images_dir.mkdir(parents=True, exist_ok=True)
    loggers = instantiate_group(cfg.get("logger")) or False
    # The test grid: input | output (| target) of the first test images, in <run>/images/test_grid.png.
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers, callbacks=[ImageGridLogger()])
    if trainer.is_global_zero:
        record_run(cfg, output_dir)
    trainer.test(module, datamodule=datamodule)
    metrics = {k: v for k, v in final_metrics(trainer.callback_metrics).items() if k.startswith(f"{keys.TEST}/")}
    result = run_result(
        {**picked, "model": model_name},
        metrics,
        sum(p.numel() for p in module.net.parameters()),
        checkpoint=str(cfg.get("ckpt_path") or cfg.get("model_weights") or "") or None,
        **module.extra_test_metrics.protocol(),
        paired=paired,
    )
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", result)
        write_per_image_csv(output_dir / "per_image.csv", module.test_results)
        summarize_wandb_runs(trainer.loggers, result)
        log.info("metrics: %s → %s", {k: round(v, 4) for k, v in metrics.items()}, output_dir / "metrics.json")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    run_as_command("lle-eval", evaluate, cfg)


def main() -> None:
    register_resolvers()
    _hydra_main()


if __name__ == "__main__":
    main()
