"""The comparison every run ends with: the input itself and each classical method lle ships, scored on the run's
test split with the run's metric code and protocol (`baselines:` in conf/train.yaml and conf/eval.yaml).

The classical methods are the model configs that extend `conf/model/_classical.yaml`; `input` is that base
with the identity as its method (on packed RAW: the same development the methods get, and nothing else).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from lle.config import CONFIG_DIR, UsageError
from lle.metrics import keys

log = logging.getLogger("lle")

CLASSICAL_BASE = "_classical"
BASELINES_ERROR = "baselines_error"  # in metrics.json when the baselines could not be scored
BASELINES_FROM = "baselines_from"  # in metrics.json: {method: file} of the baselines another job of the sweep scored


def classical_methods() -> list[str]:
    """The model configs that extend `_classical.yaml`, sorted: lle's classical methods."""
    found = []
    for path in sorted((Path(CONFIG_DIR) / "model").glob("*.yaml")):
        defaults = OmegaConf.load(path).get("defaults") or []
        if not path.stem.startswith("_") and CLASSICAL_BASE in [d for d in defaults if isinstance(d, str)]:
            found.append(path.stem)
    return found


def chosen_baselines(option: Any, model_name: str | None) -> list[str]:
    """The methods `baselines=` asks for: true (the input and every classical method), false/null (none) or a
    list of names. The run's own model is left out: its row is the run's."""
    every = [keys.INPUT, *classical_methods()]
    if option is None or option is False:
        return []
    if option is True:
        names = every
    elif isinstance(option, (list, tuple, ListConfig)) and all(isinstance(n, str) for n in option):
        unknown = [n for n in option if n not in every]
        if unknown:
            raise UsageError(
                f"baselines={list(option)}: unknown method(s) {', '.join(unknown)}; choose among {', '.join(every)} "
                "(or baselines=true for all, baselines=false for none)"
            )
        names = list(dict.fromkeys(option))
    else:
        raise UsageError(f"baselines={option!r}: expected true, false or a list of methods ({', '.join(every)})")
    if model_name in names:
        log.info("model=%s is itself a baseline: its row is this run's", model_name)
        names.remove(model_name)
    return names


def method_config(name: str, data_cfg: DictConfig) -> DictConfig:
    """The model node `model=<name>` gives beside this data config (`input`: the classical base, identity method);
    resolved beside it, so that the adapter follows data.in_channels and data.upscale."""
    from lle.models import model_config

    if name == keys.INPUT:
        base = OmegaConf.load(Path(CONFIG_DIR) / "model" / f"{CLASSICAL_BASE}.yaml")
        node = OmegaConf.merge(base, {"net": {"network": "torch.nn.Identity"}})
    else:
        node = model_config(name)
    return OmegaConf.create({"data": OmegaConf.to_container(data_cfg, resolve=True), "model": node}).model


def baseline_networks(names: Sequence[str], data_cfg: DictConfig) -> dict[str, Any]:
    """{name: network} built for the run's data, as `model=<name>` with this data config would build it."""
    from hydra.utils import instantiate

    return {name: instantiate(method_config(name, data_cfg).net, _convert_="all") for name in names}


def evaluate_baselines(cfg: DictConfig, datamodule, names: Sequence[str], gt_mean_metrics: bool = True):
    """`baseline/<method>/test/<metric>` for each method in `names`, on the test split of `datamodule`, with the
    run's trainer settings (devices, DDP, `limit_test_batches`) but no logger, callbacks or checkpoint.

    In a job of a sweep, a method that another job scored on the same data, trainer settings and protocol is read
    from `<sweep dir>/baselines/` (`lle.runs.baseline_cache`; `baselines_from` names the files) and the others are
    scored here and kept there for the jobs after this one."""
    if not names:
        return {}
    from lle.runs.baseline_cache import is_rank_zero, same_on_every_rank, sweep_folder

    # Rank 0's answer on every rank: Lightning starts the other ranks of a sweep's DDP job as single runs.
    folder = same_on_every_rank(sweep_folder() if is_rank_zero() else None)
    if folder is None:  # a single run: nothing to share
        return score_baselines(cfg, datamodule, names, gt_mean_metrics)
    return _shared_baselines(cfg, datamodule, names, gt_mean_metrics, folder)


def _shared_baselines(cfg: DictConfig, datamodule, names: Sequence[str], gt_mean_metrics: bool, folder: Path):
    """The baselines of a sweep's job: those in `folder` read (on rank 0, which alone writes), the rest scored."""
    from lle.runs.baseline_cache import BaselineCache, is_rank_zero, same_on_every_rank, scores_of, shared_key

    cache, entry_keys, found = None, {}, {}
    if is_rank_zero():
        try:
            cache = BaselineCache(folder, shared_key(cfg, gt_mean_metrics), gt_mean_metrics)
            entry_keys = {
                n: cache.key(n, OmegaConf.to_container(method_config(n, cfg.data), resolve=True)) for n in names
            }
            found = {n: scores for n, key in entry_keys.items() if (scores := cache.read(n, key)) is not None}
        except Exception as err:  # noqa: BLE001 — sharing is an economy: without it, the baselines are scored here
            log.warning("baselines: the sweep's shared scores are not used (%s: %s)", type(err).__name__, err)
            cache, found = None, {}
        if found:
            log.info("baselines: %s reused from %s", ", ".join(found), folder)
    found = same_on_every_rank(found)  # every rank scores the same methods, or the scoring ones wait forever
    missing = [n for n in names if n not in found]
    scored = score_baselines(cfg, datamodule, missing, gt_mean_metrics) if missing else {}
    if cache is not None and missing and BASELINES_ERROR not in scored:
        _publish(cache, {n: (entry_keys[n], scores_of(n, scored)) for n in missing}, str(cfg.paths.output_dir))
    reused = {name: value for scores in found.values() for name, value in scores.items()}
    origin = {BASELINES_FROM: {n: str(cache.path(n, entry_keys[n])) for n in found}} if found and cache else {}
    return {**reused, **scored, **origin}


def _publish(cache, entries: Mapping[str, tuple[Mapping, Mapping[str, float]]], scored_in: str) -> None:
    try:
        kept = [n for n, (key, scores) in entries.items() if cache.publish(n, key, scores, scored_in)]
    except OSError as err:  # a full or read-only sweep folder costs the later jobs a pass, never this run
        log.warning("baselines: %s scored here, not kept for the sweep's other jobs (%s)", ", ".join(entries), err)
        return
    said = f"baselines: {', '.join(entries)} scored here"
    if kept:
        said += f", kept in {cache.folder} for the sweep's other jobs"
    if len(kept) < len(entries):  # jobs running at once: the first complete entry stays
        said += f" ({', '.join(n for n in entries if n not in kept)}: another job's came first)"
    log.info("%s", said)


def score_baselines(cfg: DictConfig, datamodule, names: Sequence[str], gt_mean_metrics: bool = True):
    """Score `names` on the test split (every one of them, whatever a sweep has kept)."""
    from hydra.utils import instantiate

    from lle.modules.baselines import BaselinesModule
    from lle.runs.lightning_output import without_banner

    try:
        module = BaselinesModule(baseline_networks(names, cfg.data), gt_mean_metrics=gt_mean_metrics)
        with without_banner():
            trainer = instantiate(
                cfg.trainer,
                logger=False,
                callbacks=[],
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
            trainer.test(module, datamodule=datamodule, verbose=False)
    except Exception as err:  # noqa: BLE001 — the run's own results, already computed, must not be lost to a baseline
        log.warning("the baselines were not scored (%s: %s); the run's own results are kept", type(err).__name__, err)
        return {BASELINES_ERROR: f"{type(err).__name__}: {err}"}
    return {k: float(v) for k, v in trainer.callback_metrics.items() if keys.is_baseline(k)}


# --- the console summary -------------------------------------------------------------------------------------
def comparison_rows(model_name: str | None, metrics: Mapping[str, Any]) -> list[tuple[str, float, float, bool]]:
    """(method, test PSNR, test SSIM, is the run's model) for the run and each baseline, best PSNR first."""
    rows = [(model_name or "model", metrics.get(keys.TEST_PSNR), metrics.get(keys.TEST_SSIM), True)]
    methods = dict.fromkeys(keys.split_baseline_key(k)[0] for k in metrics if keys.is_baseline(k))
    for method in methods:
        psnr = metrics.get(keys.baseline_key(method, keys.TEST_PSNR))
        ssim = metrics.get(keys.baseline_key(method, keys.TEST_SSIM))
        rows.append((method, psnr, ssim, False))

    def order(row):
        value = row[1]
        return -value if isinstance(value, (int, float)) and math.isfinite(value) else math.inf

    return sorted(rows, key=order)


def comparison_table(model_name: str | None, metrics: Mapping[str, Any], test_images: int | None = None) -> str:
    """The run's test PSNR/SSIM beside the input's and each classical method's, as the console shows it."""
    rows = comparison_rows(model_name, metrics)
    width = max(len("method"), *(len(r[0]) for r in rows))

    def number(value, decimals):
        return f"{value:.{decimals}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"

    split = f"test split ({test_images} image{'s' if test_images != 1 else ''})" if test_images else "test split"
    lines = [f"{split}, same metrics and protocol for every row:", f"    {'method':<{width}}  {'PSNR':>6}  {'SSIM':>6}"]
    for name, psnr, ssim, ours in rows:
        marker = "  ◀ this run" if ours else ""
        lines.append(f"    {name:<{width}}  {number(psnr, 2):>6}  {number(ssim, 4):>6}{marker}")
    return "\n".join(lines)
