"""`lle-eval`: evaluate a checkpoint (or a method without weights) on the test split."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig

from lle.cli import check_override_syntax
from lle.config import CONFIG_DIR, UsageError, check_top_level_keys, check_values, register_resolvers
from lle.metrics import keys
from lle.runs.guard import check_output_dir
from lle.runs.results import data_details, final_metrics, run_result, write_json, write_per_image_csv
from lle.runs.task import choices, guarded, run_as_command

if TYPE_CHECKING:
    import pytorch_lightning as pl

# torch and Lightning are imported inside the task, so that `lle-eval --help` starts fast (see lle.cli.train).

log = logging.getLogger("lle")


def _module_to_evaluate(cfg: DictConfig, chosen: str | None) -> tuple[pl.LightningModule, str | None]:
    from hydra.utils import instantiate

    from lle.inference import load_official
    from lle.modules import EnhancementModule
    from lle.runs.checkpoint import load_lle_checkpoint

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


def check_data_fits_network(datamodule, net, cfg: DictConfig) -> None:
    """The data gives what the network takes (sRGB or packed RAW, its channels), or the evaluation is refused
    before any work, naming both (a RAW checkpoint on sRGB data failed inside its first convolution)."""
    from lle.models.interface import network_input

    wanted = network_input(net)
    given = (getattr(datamodule, "input_kind", wanted.kind), getattr(datamodule, "in_channels", wanted.channels))
    if given != (wanted.kind, wanted.channels):
        source = cfg.get("ckpt_path") or cfg.get("model_weights") or f"model={choices().get('model')}"
        raise UsageError(
            f"{source} takes {wanted.kind} input with {wanted.channels} channels, but data={choices().get('data')} "
            f"gives {given[0]} with {given[1]}: evaluate it on data of its kind (a RAW network on data=sid, an "
            "sRGB one on data=lol or data=synthetic)"
        )


@guarded
def evaluate(cfg: DictConfig) -> dict[str, Any]:
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from lle.metrics.evaluation import TestMetrics
    from lle.metrics.no_reference import NIQE_BLOCK
    from lle.models.complexity import network_macs
    from lle.runs.baselines import chosen_baselines, comparison_table, evaluate_baselines
    from lle.runs.checkpoint import read_metadata_of_option
    from lle.runs.lightning_output import quiet_lightning
    from lle.runs.loggers import check_logger_packages, summarize_wandb_runs
    from lle.runs.record import record_run
    from lle.runs.task import instantiate_group
    from lle.runs.threads import processes_on_this_node, set_cpu_threads

    quiet_lightning()
    output_dir = Path(cfg.paths.output_dir)
    check_top_level_keys(cfg, "eval")
    check_values(cfg)
    log.info("%s", set_cpu_threads(cfg.get("cpu_threads", "auto"), processes_on_this_node(cfg)))
    if cfg.get("ckpt_path") and cfg.get("model_weights"):
        raise UsageError("give ckpt_path (an lle checkpoint) or model_weights (an official weight file), not both")
    if cfg.get("ckpt_path"):
        read_metadata_of_option("ckpt_path", cfg.ckpt_path)
    if cfg.get("model_weights"):
        weights = Path(str(cfg.model_weights).split(":", 2)[-1])
        # A file (.pth), a TensorFlow checkpoint folder or prefix (GLADNet), a folder of two (Retinex-Net).
        if not (weights.exists() or weights.with_name(weights.name + ".index").is_file()):
            raise UsageError(f"model_weights={cfg.model_weights}: no such file or folder {weights}")
    check_logger_packages(cfg)
    asked = chosen_baselines(cfg.get("baselines"), choices().get("model"))  # a bad list is named before any work
    check_output_dir(output_dir)  # an evaluation never writes into a training run's directory
    pl.seed_everything(cfg.seed, workers=True)
    picked = choices()
    module, model_name = _module_to_evaluate(cfg, picked.get("model"))
    baselines = [name for name in asked if name != model_name]  # a checkpoint's model is known once it is read

    datamodule = instantiate(cfg.data)
    check_data_fits_network(datamodule, module.net, cfg)
    paired = getattr(datamodule, "paired", True)
    if not paired:  # the baselines are scored by full-reference metrics, which unpaired data cannot give
        baselines = []
    try:  # model files are found (or their absence explained) before any work
        module.extra_test_metrics = TestMetrics(paired, **(cfg.get("metrics") or {}))
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from err
    crop = cfg.data.get("eval_crop_size")
    if module.extra_test_metrics.niqe_model is not None and isinstance(crop, int) and crop < NIQE_BLOCK:
        raise UsageError(
            f"data.eval_crop_size={crop} is smaller than NIQE's {NIQE_BLOCK}×{NIQE_BLOCK} blocks, so no image could "
            f"be scored: use data.eval_crop_size ≥ {NIQE_BLOCK} (or null: whole images), or metrics.niqe=false"
        )
    if cfg.get("save_images"):
        module.save_images_dir = output_dir / "images" / "test"
        module.save_images_dir.mkdir(parents=True, exist_ok=True)
    loggers = instantiate_group(cfg.get("logger")) or False
    # The test grid: input | output (| target) of the first test images, in <run>/images/test_grid.png.
    from lle.callbacks.image_grid import ImageGridLogger  # here: importing Lightning costs `lle-eval --help` seconds

    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers, callbacks=[ImageGridLogger()])
    if trainer.is_global_zero:
        record_run(cfg, output_dir)
    trainer.test(module, datamodule=datamodule)
    metrics = {k: v for k, v in final_metrics(trainer.callback_metrics).items() if k.startswith(f"{keys.TEST}/")}
    metrics.update(evaluate_baselines(cfg, datamodule, baselines, getattr(module, "gt_mean_metrics", True)))
    result = run_result(
        {**picked, "model": model_name},
        metrics,
        sum(p.numel() for p in module.net.parameters()),
        macs_256=network_macs(module.net),  # what lle-report shows, counted here so that it never rebuilds the network
        checkpoint=str(cfg.get("ckpt_path") or cfg.get("model_weights") or "") or None,
        **({"weights": "official"} if cfg.get("model_weights") else {}),  # the authors' weights: lle-report marks it
        **data_details(
            datamodule.describe(), ("split_sizes", "split_unit", "scenes", "skipped"), len(module.test_results)
        ),
        **module.extra_test_metrics.protocol(),
        paired=paired,
    )
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", result)
        write_per_image_csv(output_dir / "per_image.csv", module.test_results)
        summarize_wandb_runs(trainer.loggers, result)
        tested = {k: round(v, 4) for k, v in metrics.items() if k.startswith(f"{keys.TEST}/")}
        log.info("metrics: %s → %s", tested, output_dir / "metrics.json")
        log.info("%s", comparison_table(model_name, metrics, (result["split_sizes"] or {}).get("test")))
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    run_as_command("lle-eval", evaluate, cfg)


def main() -> None:
    check_override_syntax(sys.argv[1:])
    register_resolvers()
    _hydra_main()


if __name__ == "__main__":
    main()
