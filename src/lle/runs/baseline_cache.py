"""Baselines scored once per sweep: the jobs of a multirun share `<sweep dir>/baselines/<method>-<key>.json`.

A baseline trains nothing, so its scores depend only on what the key holds: the resolved data node (test split,
crops, seed), the trainer settings of the test loop (`limit_test_batches`, precision, devices), the protocol
(GT-mean variants, metric options), the method's resolved config, and lle's and torch's versions with a digest of
lle's source. A job reuses each entry it finds and scores the rest; a single run keeps nothing.

Jobs run at once (joblib, SLURM arrays): an entry is published whole or not at all, and never over another
(`atomic_path(replace=False)`), so the first complete result is the one every later job reads. Reading is
`json.loads` and nothing else; an entry that cannot be read, or holds another key, is ignored with a warning.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from lle.atomic import atomic_path
from lle.metrics import keys
from lle.metrics.protocol import PROTOCOL

log = logging.getLogger("lle")

FOLDER = "baselines"  # in the sweep directory
FORMAT = 1  # of the entry files; part of the key
# What the test loop of the baselines' trainer reads (the rest of `trainer` shapes training only).
TEST_LOOP_KEYS = (
    "accelerator",
    "strategy",
    "devices",
    "num_nodes",
    "precision",
    "plugins",
    "deterministic",
    "benchmark",
    "use_distributed_sampler",
    "limit_test_batches",
)


def sweep_folder() -> Path | None:
    """`<sweep dir>/baselines` in a job of a multirun; None in a single run (or outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.get("mode") != RunMode.MULTIRUN or not hydra_cfg.runtime.get("output_dir"):
        return None
    # The job directory minus its subdir: `hydra.sweep.dir` itself may not resolve alike in every job process.
    job_dir = Path(hydra_cfg.runtime.output_dir).absolute()
    try:
        depth = len(Path(str(hydra_cfg.sweep.subdir)).parts)
        return (job_dir.parents[depth - 1] if depth else job_dir) / FOLDER
    except Exception as err:  # noqa: BLE001 — an unusual subdir: this job scores its own baselines
        log.warning("baselines: not shared with the sweep's other jobs (sweep directory unknown: %s)", err)
        return None


@functools.cache
def source_digest() -> str:
    """A digest of lle's Python files: an edit between two sweeps sharing a directory (a continued Optuna study, a
    resumed SLURM job) is not scored with the older code's numbers."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


def canonical(value: Any) -> str:
    """One text for one value: sorted keys, no spaces; tuples as lists, anything else as its str."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def shared_key(cfg: DictConfig, gt_mean_metrics: bool) -> dict[str, Any]:
    """What every baseline's score depends on besides the method."""
    import torch

    from lle import __version__

    trainer = cfg.get("trainer") or {}
    return {
        "format": FORMAT,
        "lle": __version__,
        "source": source_digest(),
        "torch": torch.__version__,
        "data": _plain(cfg.data),
        "trainer": {k: _plain(trainer.get(k)) for k in TEST_LOOP_KEYS if k in trainer},
        "protocol": {**PROTOCOL, "gt_mean_metrics": bool(gt_mean_metrics)},
        "metrics": _plain(cfg.get("metrics")),  # lle-eval's options (NIQE, LPIPS), conservatively
    }


def metric_names(method: str, gt_mean_metrics: bool) -> list[str]:
    """The keys a complete entry of `method` holds (what `BaselinesModule` logs for it)."""
    names = keys.IMAGE_METRICS if gt_mean_metrics else keys.REFERENCE_METRICS
    return [keys.baseline_key(method, keys.key(keys.TEST, name)) for name in names]


class BaselineCache:
    """The entries of one sweep folder for one run's data, trainer and protocol (`shared`)."""

    def __init__(self, folder: Path, shared: Mapping[str, Any], gt_mean_metrics: bool):
        self.folder, self.shared, self.gt_mean_metrics = Path(folder), dict(shared), gt_mean_metrics
        self.unreadable: set[Path] = set()  # entries found broken: replaced when this job publishes its own

    def key(self, method: str, method_config: Any) -> dict[str, Any]:
        # Through JSON and back: the key compares equal to the one an entry file holds.
        return json.loads(canonical({**self.shared, "method": method, "method_config": method_config}))

    def path(self, method: str, key: Mapping[str, Any]) -> Path:
        return self.folder / f"{method}-{hashlib.sha256(canonical(key).encode()).hexdigest()[:20]}.json"

    def read(self, method: str, key: Mapping[str, Any]) -> dict[str, float] | None:
        """The scores of the entry for `key`, or None: none yet, or one that is not a complete, matching entry."""
        path = self.path(method, key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            return self._ignore(path, method, err)
        if not text:  # a writer on a file system without hard links has claimed the name and is filling it
            return None
        try:
            return self._scores(json.loads(text), method, key)
        except (ValueError, TypeError, KeyError, AttributeError) as err:  # truncated, edited, not an entry at all
            return self._ignore(path, method, err)

    def _scores(self, entry: Any, method: str, key: Mapping[str, Any]) -> dict[str, float]:
        scores = entry["scores"]
        if entry["key"] != key:
            raise ValueError("it was written for another key")
        if sorted(scores) != sorted(metric_names(method, self.gt_mean_metrics)):
            raise ValueError(f"it holds {sorted(scores)}")
        return {name: math.nan if value is None else float(value) for name, value in scores.items()}

    def _ignore(self, path: Path, method: str, err: BaseException) -> None:
        why = f"{type(err).__name__}: {err}"
        log.warning("baselines: ignoring %s, not a complete entry (%s); scoring %s again", path, why, method)
        self.unreadable.add(path)
        return None

    def publish(self, method: str, key: Mapping[str, Any], scores: Mapping[str, float], scored_in: str) -> Path | None:
        """Write the entry unless another job has meanwhile (the first complete one stays) and return its path; None
        where another job's came first, or the scores lack a metric (a test loop that scored nothing)."""
        from lle.runs.results import json_safe

        if sorted(scores) != sorted(metric_names(method, self.gt_mean_metrics)):
            return None
        path = self.path(method, key)
        entry = {"key": dict(key), "scores": json_safe(dict(scores)), "scored_in": scored_in, "scored_at": time.time()}
        text = json.dumps(entry, indent=1, sort_keys=True, allow_nan=False) + "\n"
        try:
            # A broken entry is replaced (atomically: a reader sees it or this one); a complete one is never.
            with atomic_path(path, replace=path in self.unreadable) as partial:
                partial.write_text(text, encoding="utf-8")
        except FileExistsError:
            return None  # another job's entry came first: it stays, and holds the same scores
        self.unreadable.discard(path)
        return path


def scores_of(method: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """The `baseline/<method>/…` entries of a run's metrics."""
    return {k: v for k, v in metrics.items() if keys.is_baseline(k) and keys.split_baseline_key(k)[0] == method}


def same_on_every_rank(value: Any) -> Any:
    """Rank 0's `value` on every rank of a distributed run: ranks that read the cache at different moments must
    still agree on what to score, or the ones scoring would wait for the others forever."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def is_rank_zero() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
