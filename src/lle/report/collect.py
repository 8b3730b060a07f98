"""What the report is made of: the runs under the given paths, one row per run, and the joined bench figures.

A row holds the run's `metrics.json` values unchanged (under their logged keys, `lle.metrics.keys`) plus what
the report adds: the network's MACs, the latest validation grid and the per-image CSV.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lle.metrics import keys
from lle.metrics.protocol import METRIC_PROTOCOL, PROTOCOL
from lle.models.complexity import MACS_SIZE, count_macs
from lle.models.interface import network_input
from lle.runs.allow_list import refused_target
from lle.runs.results import OK

# What a leaderboard row is: a run, or a baseline that runs scored on their test split (`baseline_rows`).
RUN, BASELINE = "run", "baseline"


# --- finding runs ------------------------------------------------------------------------------------
def _is_hidden(path: Path, root: Path) -> bool:
    # .hydra (Hydra's copy of the config), .submitit (SLURM logs): never runs of their own.
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def find_runs(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """(run directory, label) for every run under `paths`: directories holding a `metrics.json`, and Hydra
    job directories (with `.hydra/`) that never wrote one because the job was killed or is still running."""
    found: dict[Path, str] = {}
    for given in paths:
        given = Path(given).resolve()
        if given.is_file():
            given = given.parent
        if not given.is_dir():
            raise FileNotFoundError(f"{given} does not exist")
        if (given / "metrics.json").is_file() or (given / ".hydra").is_dir():
            found.setdefault(given, given.name)
            continue
        markers = [*given.rglob("metrics.json"), *(p.parent for p in given.rglob(".hydra") if p.is_dir())]
        for marker in markers:
            run = marker.parent if marker.name == "metrics.json" else marker
            if not _is_hidden(run, given):
                found.setdefault(run, str(run.relative_to(given.parent)))
    return sorted(found.items(), key=lambda item: item[1])


# --- one row per run ---------------------------------------------------------------------------------
# Sweeps repeat one network config across seeds and data: count each config once per process.
_macs_cache: dict[str, int | None] = {}


def config_macs(net_cfg: DictConfig, size: int = MACS_SIZE) -> int | None:
    """MACs of one forward pass at 1×C×size×size, C the input channels the instantiated network declares
    (FLOPs / 2, as counted by FlopCounterMode: convolutions, transposed convolutions and matrix products).
    Only the instantiated network is asked, never the node's keys: the node may be the network class or a
    factory (an adapter) that builds it. Tried on the meta device first (shapes only: no memory, no time);
    networks with data-dependent steps run on the CPU.

    A saved config is data, not code: it is instantiated only if every `_target_` in it is one of lle's own
    classes (`lle.runs.allow_list`); anything else gives None, with a warning."""
    key = OmegaConf.to_yaml(net_cfg)
    if key in _macs_cache:
        return _macs_cache[key]
    _macs_cache[key] = None
    refused = refused_target(net_cfg)
    if refused:
        warnings.warn(
            f"not counting MACs: {refused} (lle builds only its own networks from a saved config)", stacklevel=2
        )
    else:
        for device in ("meta", "cpu"):
            try:
                with torch.device(device):
                    net = instantiate(net_cfg, _convert_="all").eval()
                _macs_cache[key] = count_macs(net, network_input(net).channels, size, device)
                break
            except Exception:  # noqa: BLE001 — any failure means "not computable here": try the next device
                continue
    return _macs_cache[key]


def _protocol_summary(metrics: dict[str, Any]) -> str:
    stated = {k: v for k, v in metrics.items() if k.startswith("protocol/")}
    if not stated:
        return "" if metrics.get("status") != OK else "not stated"
    # An optional metric's line (NIQE, LPIPS) is compared only where the run computed that metric.
    expected = {**PROTOCOL, **{k: v for k, v in METRIC_PROTOCOL.items() if k in stated}}
    differs = sorted(
        k.split("/", 1)[1] for k in set(expected) | set(stated) if not _same_protocol(stated.get(k), expected.get(k))
    )
    return "lle standard" if not differs else "differs: " + ", ".join(differs)


def _same_protocol(stated: str | None, expected: str | None) -> bool:
    """Equal, or `expected` is a template (`{net}`) that `stated` fills in (LPIPS names its backbone)."""
    if stated is None or expected is None or "{" not in expected:
        return stated == expected
    head, _, rest = expected.partition("{")
    tail = rest.partition("}")[2]
    return stated.startswith(head) and stated.endswith(tail)


def _net_config(run_dir: Path) -> DictConfig | None:
    try:
        return OmegaConf.load(run_dir / "config.yaml").model.net
    except Exception:  # noqa: BLE001 — no config.yaml (killed early) or not a network config
        return None


def read_run(run_dir: Path, label: str) -> dict[str, Any]:
    """A leaderboard row: the run's metrics.json values (unchanged) plus complexity and file paths."""
    row: dict[str, Any] = {"run": label, "run_dir": str(run_dir)}
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except FileNotFoundError:
        metrics = {
            "status": "incomplete",
            "error": "no metrics.json: the job is still running or was killed (see its .hydra/ and log files)",
        }
    except (OSError, ValueError) as err:
        metrics = {"status": "unreadable", "error": f"metrics.json: {type(err).__name__}: {err}"}
    if not isinstance(metrics, dict):  # valid JSON, but not what lle writes (a list, a number)
        warnings.warn(
            f"{run_dir / 'metrics.json'} holds a {type(metrics).__name__}, not an lle run record; listed as unreadable",
            stacklevel=2,
        )
        metrics = {"status": "unreadable", "error": f"metrics.json holds a {type(metrics).__name__}, not a record"}
    split = metrics.get("split_sizes") or {}
    row.update(
        {
            "kind": RUN,
            "status": metrics.get("status", "unknown"),
            "model": metrics.get("choice/model", ""),
            # Evaluated from the authors' released weights (lle-eval model_weights=official:…), not trained by lle.
            "weights": "official" if metrics.get("weights") == "official" else "",
            "data": metrics.get("choice/data", ""),
            "protocol": _protocol_summary(metrics),
            "split": "/".join(str(split.get(k, "?")) for k in (keys.TRAIN, keys.VAL, keys.TEST)) if split else "",
            **{k: metrics.get(k) for k in keys.REPORTED},
            "params": metrics.get("params"),
            **{k: v for k, v in metrics.items() if k.startswith("latency")},
            "train_time_s": metrics.get("train_time_s"),
            "checkpoint_best": metrics.get("checkpoint_best"),
            "error": (metrics.get("error") or "").strip(),
        }
    )
    recorded = metrics.get("macs_256")
    if isinstance(recorded, int) and not isinstance(recorded, bool):  # counted by the run itself (lle ≥ 0.3)
        row["macs_256"] = recorded
    else:  # an older run, or a network the run could not count on the meta device: rebuilt if allow-listed
        net_cfg = _net_config(run_dir)
        row["macs_256"] = config_macs(net_cfg) if net_cfg is not None else None
    row["gmacs_256"] = row["macs_256"] / 1e9 if row["macs_256"] is not None else None
    grids = sorted((run_dir / "images" / keys.VAL).glob("epoch_*.png"))
    row["val_grid"] = str(grids[-1]) if grids else None
    test_grid = run_dir / "images" / "test_grid.png"  # lle-eval's: input | output (| target)
    row["test_grid"] = str(test_grid) if test_grid.is_file() else None
    row["paired"] = metrics.get("paired", True)
    per_image = run_dir / "per_image.csv"
    row["per_image_csv"] = str(per_image) if per_image.is_file() else None
    row["baselines"] = _baselines_of(metrics)
    return row


def _baselines_of(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{method: {logged key: value}} of the baselines a run scored beside itself (`baseline/<method>/…`)."""
    found: dict[str, dict[str, Any]] = {}
    for name, value in metrics.items():
        if keys.is_baseline(name):
            method, logged = keys.split_baseline_key(name)
            found.setdefault(method, {})[logged] = value
    return found


def baseline_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per baseline the runs scored, marked `kind: baseline`. Runs on the same test split and protocol
    score a baseline identically: a method's row with the same data, protocol and scores is listed once (its
    `run` names the first run and how many more), and not at all where a run of that very method shows them."""

    def identity(method: str, row: dict[str, Any], values: dict[str, Any]) -> tuple:
        return (method, row["data"], row["protocol"], values.get(keys.TEST_PSNR), values.get(keys.TEST_SSIM))

    shown = {identity(r["model"], r, r) for r in rows}
    merged: dict[tuple, dict[str, Any]] = {}
    for source in rows:
        for method, values in source.get("baselines", {}).items():
            same = identity(method, source, values)
            if same in shown:
                continue
            if same in merged:
                merged[same]["sources"].append(source["run"])
                continue
            merged[same] = {
                "kind": BASELINE,
                "status": OK,
                "model": method,
                "data": source["data"],
                "protocol": source["protocol"],
                "split": source["split"],
                **{k: values.get(k) for k in keys.REPORTED},
                "params": None,
                "macs_256": None,
                "gmacs_256": None,
                "train_time_s": None,
                "checkpoint_best": None,
                "error": "",
                "run_dir": source["run_dir"],
                "val_grid": None,
                "test_grid": None,
                "paired": True,
                "per_image_csv": None,
                "sources": [source["run"]],
            }
    for row in merged.values():
        first, more = row["sources"][0], len(row["sources"]) - 1
        row["run"] = f"baseline (scored with {first}{f' and {more} more' if more else ''})"
    return list(merged.values())


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def ranking_key(row: dict[str, Any]) -> tuple[float, float, str]:
    """Best test PSNR first; runs without one (unpaired data, failed, incomplete) after them by NIQE, lower
    first; then by run."""
    niqe = row.get(keys.TEST_NIQE)
    return (-ranking_psnr(row), niqe if _finite(niqe) else math.inf, row["run"])


def ranking_psnr(row: dict[str, Any]) -> float:
    """The row's test PSNR, -inf where there is none (failed, incomplete, NaN): what rows are sorted on."""
    value = row.get(keys.TEST_PSNR)
    return value if isinstance(value, (int, float)) and not math.isnan(value) else -math.inf


# --- joined from elsewhere ---------------------------------------------------------------------------
def bench_latencies(bench_json: str | Path) -> dict[str, dict[str, float]]:
    """{model: {"latency_ms/<device>/<size>": median ms}} from an `lle-bench` bench.json: the `fast` fp32
    variant at batch 1, which is how lle-eval and lle-enhance run a network."""
    path = Path(bench_json)
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FileNotFoundError(f"--bench {path}: not an lle-bench bench.json ({type(err).__name__}: {err})") from err
    figures: dict[str, dict[str, float]] = {}
    for result in results:
        for r in result.get("rows", []):
            if r.get("kind") == "inference" and r.get("variant") == "fast" and "median_s" in r:
                figures.setdefault(result["model"], {})[f"latency_ms/{r['device']}/{r['size']}"] = r["median_s"] * 1e3
    return figures


def leaderboard(paths: Iterable[str | Path], bench_json: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per run under `paths` and one per distinct baseline they scored, best test PSNR first, each with a
    `label` for the plots."""
    rows = [read_run(run_dir, label) for run_dir, label in find_runs(paths)]
    rows += baseline_rows(rows)
    if bench_json is not None:  # speed measured once per model by lle-bench, joined on the model name
        latencies = bench_latencies(bench_json)
        for row in rows:
            row.update(latencies.get(row["model"], {}))
    rows.sort(key=ranking_key)  # stable order among runs without a test PSNR or NIQE
    # Plots name a run by its model, and by model and run where several finished runs share a model (seeds).
    finished = [r["model"] for r in rows if r["status"] == OK and r["kind"] == RUN]
    for r in rows:
        if r["kind"] == BASELINE:
            r["label"] = f"{r['model']} (baseline)"
        elif finished.count(r["model"]) > 1 or not r["model"]:
            r["label"] = f"{r['model']} ({r['run']})"
        else:
            r["label"] = r["model"]
    return rows
