"""`lle-train`: fit a model, select the checkpoint on the validation split, test it, write metrics.json."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from lle.cli import check_override_syntax
from lle.config import (
    CONFIG_DIR,
    UsageError,
    check_top_level_keys,
    check_training_length,
    check_values,
    register_resolvers,
)
from lle.metrics import keys
from lle.runs.guard import AUTO_RESUME, auto_resume_checkpoint, check_output_dir, resume_option
from lle.runs.results import (
    OK,
    data_details,
    final_metrics,
    read_status,
    run_result,
    write_json,
    write_per_image_csv,
)
from lle.runs.task import choices, guarded, run_as_command

if TYPE_CHECKING:
    from lle.runs.checkpoint import CheckpointMetadata

# torch, Lightning and what needs them are imported inside the task, not here: `lle-train --help` starts in a
# second or two instead of the tens of seconds that importing Lightning takes on a loaded machine.

log = logging.getLogger("lle")


def run_metadata(cfg: DictConfig, picked: dict[str, str]) -> CheckpointMetadata:
    """What this run's checkpoints carry so that they can be evaluated and loaded with nothing else."""
    from lle.runs.checkpoint import CheckpointMetadata

    return CheckpointMetadata(
        model_name=picked.get("model"),
        model_config=OmegaConf.to_container(cfg.model, resolve=True),
        data_name=picked.get("data"),
        data_config=OmegaConf.to_container(cfg.data, resolve=True),
        loss_name=picked.get("loss"),
    )


def check_resumable(ckpt_path: str, model_name: str | None) -> None:
    """A missing, truncated or foreign checkpoint, or one of another model, is named before any work."""
    from lle.inference import OFFICIAL_PREFIX
    from lle.runs.checkpoint import read_metadata_of_option

    if str(ckpt_path).startswith(OFFICIAL_PREFIX):
        raise UsageError(
            f"ckpt_path={ckpt_path}: ckpt_path resumes an lle run from its checkpoint; the authors' weights are "
            f"evaluated with lle-eval model_weights={ckpt_path} (lle-train does not start from them)"
        )

    metadata = read_metadata_of_option("ckpt_path", ckpt_path)
    if model_name and metadata.model_name and metadata.model_name != model_name:
        raise UsageError(
            f"ckpt_path={ckpt_path} holds a {metadata.model_name} checkpoint but model={model_name}: "
            f"resume with model={metadata.model_name}, or start a new run without ckpt_path"
        )


def check_crop_fits(cfg: DictConfig, module) -> None:
    """A training crop too small for the network's padding or the loss's window is named before the run (it
    failed inside the first step, naming neither)."""
    crop = (cfg.get("data") or {}).get("crop_size")
    if not isinstance(crop, int):
        return
    from lle.models.blocks import reflect_pad_fits

    net, loss = getattr(module, "net", None), getattr(module, "loss", None)
    multiple = int(getattr(net, "input_multiple", getattr(net, "size_multiple", 1)) or 1)
    if not reflect_pad_fits(crop, multiple):
        raise UsageError(
            f"data.crop_size={crop} is too small for {choices().get('model')}, which pads its input to a multiple "
            f"of {multiple}: use data.crop_size ≥ {multiple} (a multiple of {multiple} needs no padding)"
        )
    upscale = int(cfg.data.get("upscale") or 1)
    window = int(getattr(loss, "min_size", 0) or 0)
    if crop * upscale < window:
        raise UsageError(
            f"data.crop_size={crop} gives {crop * upscale}×{crop * upscale} training targets, smaller than the "
            f"{window}×{window} window of {type(loss).__name__}: use data.crop_size ≥ {math.ceil(window / upscale)}"
        )


def resume_checkpoint(cfg: DictConfig, output_dir: Path) -> None:
    """Resolve `ckpt_path=auto` (also implied in a requeued SLURM job, `resume_option`) to this run directory's
    last.ckpt, or to nothing (a fresh start) where it has none, before anything reads the option."""
    option = resume_option(cfg.get("ckpt_path"))
    if option == AUTO_RESUME:
        last = auto_resume_checkpoint(output_dir)
        log.info("ckpt_path=auto: %s", f"resuming from {last}" if last else "no checkpoint in the run directory yet")
        with open_dict(cfg):
            cfg.ckpt_path = str(last) if last else None


def validation_before(output_dir: Path, ckpt_path: str | None) -> dict[str, float]:
    """The validation results a finished run recorded, when it is resumed in its own directory: a resume with
    nothing left to train logs no validation, and its metrics.json must not lose them."""
    previous = output_dir / "metrics.json"
    if not ckpt_path or not previous.is_file() or read_status(previous) != OK:
        return {}
    recorded = json.loads(previous.read_text())
    return {k: v for k, v in recorded.items() if k.startswith(f"{keys.VAL}/") and isinstance(v, (int, float))}


@guarded
def train(cfg: DictConfig) -> dict[str, Any]:
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from lle.models.complexity import network_macs
    from lle.runs.baselines import chosen_baselines, comparison_table, evaluate_baselines
    from lle.runs.lightning_output import quiet_lightning
    from lle.runs.loggers import (
        check_logger_packages,
        continue_logger_runs,
        describe_wandb_runs,
        remember_logger_runs,
        summarize_wandb_runs,
    )
    from lle.runs.record import record_run
    from lle.runs.task import instantiate_group, log_hyperparameters
    from lle.runs.threads import processes_on_this_node, set_cpu_threads

    quiet_lightning()
    output_dir = Path(cfg.paths.output_dir)
    check_top_level_keys(cfg, "train")
    check_values(cfg)
    log.info("%s", set_cpu_threads(cfg.get("cpu_threads", "auto"), processes_on_this_node(cfg)))
    check_logger_packages(cfg)
    picked = choices()
    baselines = chosen_baselines(cfg.get("baselines"), picked.get("model")) if cfg.test else []
    resume_checkpoint(cfg, output_dir)
    if cfg.get("ckpt_path") not in (None, "last", "hpc"):
        check_resumable(cfg.ckpt_path, picked.get("model"))  # before the directory is claimed
    check_output_dir(output_dir, resume_from=cfg.get("ckpt_path"))
    log.info("run directory: %s", output_dir)  # said at the start too: the run may be long, its output a file
    pl.seed_everything(cfg.seed, workers=True)

    datamodule: pl.LightningDataModule = instantiate(cfg.data)
    module = instantiate(cfg.model, loss=instantiate(cfg.loss))
    if cfg.train and module.trainable:
        check_training_length(cfg)
        check_crop_fits(cfg, module)
    module.checkpoint_metadata = run_metadata(cfg, picked)
    continue_logger_runs(cfg)
    describe_wandb_runs(cfg, picked)
    callbacks, loggers = instantiate_group(cfg.get("callbacks")), instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    params = sum(p.numel() for p in module.net.parameters())
    if trainer.is_global_zero:
        record_run(cfg, output_dir)
        remember_logger_runs(module, loggers)
    log_hyperparameters(loggers, cfg, {"params": params})

    started = time.time()
    if cfg.train and module.trainable:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    elif cfg.train:
        log.info("%s has nothing to train: validating and testing only", picked.get("model"))
        trainer.validate(module, datamodule=datamodule)
    train_time = time.time() - started
    metrics = {**validation_before(output_dir, cfg.get("ckpt_path")), **final_metrics(trainer.callback_metrics)}
    if cfg.train and module.trainable and keys.VAL_PSNR not in metrics and trainer.global_step > 0:
        # A resume with nothing left to train (its run interrupted during the last validation or the test) ran no
        # validation: validate the last weights, as the uninterrupted run's last epoch did, so that every key is there.
        trainer.validate(module, datamodule=datamodule, verbose=False)
        metrics.update({k: v for k, v in final_metrics(trainer.callback_metrics).items() if k.startswith(keys.VAL)})
    best_score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    if best_score is not None and trainer.checkpoint_callback.monitor == keys.VAL_PSNR:
        # The best checkpoint's score is restored on resume; the module's running maximum starts afresh.
        metrics[keys.VAL_PSNR_BEST] = max(metrics.get(keys.VAL_PSNR_BEST, -math.inf), float(best_score))

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.test:
        # Test the checkpoint selected on the validation split; without one (fast_dev_run, nothing to
        # train) the weights in memory are tested.
        trainer.test(module, datamodule=datamodule, ckpt_path=best or None)
        metrics.update(final_metrics(trainer.callback_metrics))
        metrics.update(evaluate_baselines(cfg, datamodule, baselines, getattr(module, "gt_mean_metrics", True)))

    scored = len(module.test_results) if cfg.test else None  # under a limit, fewer than the split holds
    result = run_result(
        picked,
        metrics,
        params,
        macs_256=network_macs(module.net),  # what lle-report shows, counted here so that it never rebuilds the network
        train_time_s=round(train_time, 1) if module.trainable else None,  # a classical method trains nothing
        checkpoint_best=best or None,
        **data_details(datamodule.describe(), ("split_sizes", "split_unit", "scenes"), scored_test=scored),
    )
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", result)
        write_per_image_csv(output_dir / "per_image.csv", module.test_results)
        summarize_wandb_runs(loggers, result)
        log.info("run directory: %s", output_dir)
        saved = sorted(p.name for p in (output_dir / "checkpoints").glob("*.ckpt"))
        log.info("  checkpoints: %s", f"{output_dir / 'checkpoints'} ({', '.join(saved)})" if saved else "none written")
        log.info("  resolved config: %s", output_dir / "config.yaml")
        log.info(
            "  metrics: %s  %s",
            output_dir / "metrics.json",
            {k: round(v, 4) for k, v in metrics.items() if k.startswith(f"{keys.TEST}/") or k == keys.VAL_PSNR_BEST},
        )
        if cfg.test:
            log.info(
                "%s", comparison_table(picked.get("model"), metrics, (result.get("split_sizes") or {}).get("test"))
            )
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    import torch

    torch.set_float32_matmul_precision("high")
    result = run_as_command("lle-train", train, cfg)
    value = result.get(cfg.get("optimized_metric") or "", None)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def main() -> None:
    check_override_syntax(sys.argv[1:])
    register_resolvers()
    _hydra_main()


if __name__ == "__main__":
    main()
