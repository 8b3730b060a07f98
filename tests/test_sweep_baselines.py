"""A sweep scores each baseline once: its jobs share `<sweep dir>/baselines/` (lle.runs.baseline_cache), keyed by
everything that changes a score, written atomically and never trusted when broken."""

import json
import logging
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import TINY_RUN, TINY_SYNTHETIC, compose_config
from lle.metrics import keys
from lle.runs.baseline_cache import BaselineCache, metric_names, shared_key, sweep_folder
from lle.runs.baselines import BASELINES_FROM, method_config

SCORED = re.compile(r"baselines: (.+?) scored here")
KEPT = re.compile(r"scored here, kept in (\S+) for the sweep's other jobs")
REUSED = re.compile(r"baselines: (.+) reused from (\S+)$")


def sweep(tmp_path: Path, sweep_dir: Path, *overrides: str) -> list[str]:
    """`lle-train -m …` in a process of its own (Hydra's real multirun), tiny; its console lines."""
    tiny = [o for o in TINY_RUN if not o.startswith("baselines=")]
    command = [sys.executable, "-m", "lle.cli.train", "-m", *tiny, *TINY_SYNTHETIC, f"hydra.sweep.dir={sweep_dir}"]
    command += [f"paths.log_dir={tmp_path / 'logs'}", *overrides]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "all ok" in proc.stdout, proc.stdout[-3000:]
    return proc.stdout.splitlines()


def methods_in(lines: list[str], pattern: re.Pattern) -> list[str]:
    return [name for line in lines if (found := pattern.search(line)) for name in found.group(1).split(", ")]


def baselines_of(job_dir: Path) -> dict[str, float]:
    metrics = json.loads((job_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if keys.is_baseline(k)}


def test_a_classical_sweep_scores_each_baseline_once(tmp_path):
    root = tmp_path / "sweep"
    lines = sweep(tmp_path, root, "model=gamma,he,clahe", "baselines=[input,gamma,he]")
    folder = root / "baselines"
    entries = sorted(p.name.split("-")[0] for p in folder.glob("*.json"))
    assert entries == ["gamma", "he", "input"]  # one entry per baseline, nothing half-written left beside them
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in folder.glob("*.json"))
    # Scored once each in the whole sweep: gamma's job scores input and he, he's job gamma, clahe's job none.
    assert Counter(methods_in(lines, SCORED)) == {"input": 1, "he": 1, "gamma": 1}
    assert methods_in(lines, REUSED) == ["input", "input", "gamma", "he"]
    assert {Path(f.group(f.lastindex)) for line in lines if (f := REUSED.search(line) or KEPT.search(line))} == {folder}

    jobs = {name: root / name for name in ("0_gamma", "1_he", "2_clahe")}
    scored = {name: baselines_of(job) for name, job in jobs.items()}
    assert len(scored["2_clahe"]) == 3 * len(keys.IMAGE_METRICS)
    for name in ("0_gamma", "1_he"):  # every value identical to the one its scorer recorded
        assert scored[name].items() <= scored["2_clahe"].items()
    for entry in folder.glob("*.json"):
        content = json.loads(entry.read_text())
        assert content["scores"].items() <= scored["2_clahe"].items()
    # Each job's metrics.json names what it reused (lle-report reads its baseline rows as before).
    records = {name: json.loads((job / "metrics.json").read_text()) for name, job in jobs.items()}
    assert BASELINES_FROM not in records["0_gamma"]
    assert sorted(records["1_he"][BASELINES_FROM]) == ["input"]
    assert sorted(records["2_clahe"][BASELINES_FROM]) == ["gamma", "he", "input"]
    assert all(Path(p).parent == folder for p in records["2_clahe"][BASELINES_FROM].values())


def test_jobs_on_other_data_share_nothing(tmp_path):
    # One sweep, two test splits: each job scores its own (a shared entry would give both the same numbers).
    root = tmp_path / "sweep"
    lines = sweep(tmp_path, root, "model=gamma", "baselines=[input,he]", "data.num_test=2,3")
    assert Counter(methods_in(lines, SCORED)) == {"input": 2, "he": 2} and not methods_in(lines, REUSED)
    assert len(list((root / "baselines").glob("*.json"))) == 4
    two, three = baselines_of(root / "0_gamma"), baselines_of(root / "1_gamma")
    assert two["baseline/input/test/psnr"] != three["baseline/input/test/psnr"]
    assert BASELINES_FROM not in json.loads((root / "1_gamma" / "metrics.json").read_text())


@pytest.mark.slow
def test_jobs_running_at_once_keep_one_complete_entry_each(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    # Two processes reach the baselines together: both score, one entry per method stays, nobody reads a half.
    root = tmp_path / "sweep"
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    lines = sweep(tmp_path, root, *joblib, "model=gamma,he", "baselines=[input,gamma,he,clahe]")
    folder = root / "baselines"
    assert sorted(p.name.split("-")[0] for p in folder.iterdir()) == ["clahe", "gamma", "he", "input"]
    assert all(count <= 2 for count in Counter(methods_in(lines, SCORED)).values())
    kept = {}
    for entry in folder.iterdir():
        kept.update(json.loads(entry.read_text())["scores"])
    for job in ("0_gamma", "1_he"):
        assert baselines_of(root / job).items() <= kept.items()


def test_a_single_run_shares_nothing(tmp_path):
    compose_config("train", ["model=gamma"], tmp_path / "run")  # Hydra's state of a single run
    assert sweep_folder() is None


@pytest.fixture
def lle_warnings():
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("lle").addHandler(handler)
    yield records
    logging.getLogger("lle").removeHandler(handler)


def cache_of(tmp_path: Path, *overrides: str) -> tuple[BaselineCache, dict]:
    cfg = compose_config("train", [*TINY_RUN, *TINY_SYNTHETIC, *overrides], tmp_path / "run")
    cache = BaselineCache(tmp_path / "baselines", shared_key(cfg, gt_mean_metrics=True), gt_mean_metrics=True)
    from omegaconf import OmegaConf

    return cache, cache.key("gamma", OmegaConf.to_container(method_config("gamma", cfg.data), resolve=True))


def test_a_truncated_or_foreign_entry_is_ignored_and_replaced(tmp_path, lle_warnings):
    cache, key = cache_of(tmp_path)
    scores = {name: 10.0 + i for i, name in enumerate(metric_names("gamma", True))}
    path = cache.publish("gamma", key, scores, scored_in="job 0")
    assert cache.read("gamma", key) == scores

    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # a copy cut short, a disk error
    assert cache.read("gamma", key) is None
    assert len(lle_warnings) == 1 and "not a complete entry" in lle_warnings[0].getMessage()
    cache.publish("gamma", key, {**scores, "baseline/gamma/test/psnr": 20.0}, scored_in="job 1")
    assert cache.read("gamma", key)["baseline/gamma/test/psnr"] == 20.0  # the broken entry was replaced whole

    # A complete entry is never replaced: the first result is the one every job reads.
    cache.publish("gamma", key, {**scores, "baseline/gamma/test/psnr": 30.0}, scored_in="job 2")
    assert cache.read("gamma", key)["baseline/gamma/test/psnr"] == 20.0
    assert [p.name for p in cache.folder.iterdir()] == [path.name]  # no temporary file left behind

    # An entry of the right name but another key (edited, or a hash collision) or lacking a metric is not used.
    entry = json.loads(path.read_text())
    path.write_text(json.dumps({**entry, "key": {**entry["key"], "lle": "0.0.1"}}))
    assert cache.read("gamma", key) is None
    path.write_text(json.dumps({**entry, "scores": {"baseline/gamma/test/psnr": 1.0}}))
    assert cache.read("gamma", key) is None
    path.write_text("[]")
    assert cache.read("gamma", key) is None
    assert len(lle_warnings) == 4
    # Incomplete scores (a test loop that scored nothing) are not kept.
    assert cache.publish("he", key, {}, scored_in="job 3") is None


@pytest.mark.parametrize(
    ("changes", "same"),
    [
        (["data.num_test=3"], False),
        (["data.eval_crop_size=32"], False),
        (["data.seed=7"], False),
        (["seed=7"], False),  # data.seed follows it: the synthetic test split is drawn from it
        (["trainer.limit_test_batches=1"], False),
        (["trainer.precision=bf16-mixed"], False),
        (["trainer.max_epochs=3", "trainer.limit_train_batches=1"], True),  # training only
        (["model.net.gamma=0.5"], True),  # the run's own model: not the baseline `gamma` (model=gamma below)
    ],
)
def test_the_key_follows_what_changes_a_score(tmp_path, changes, same):
    cache, key = cache_of(tmp_path, "model=gamma")
    changed, changed_key = cache_of(tmp_path, "model=gamma", *changes)
    assert (changed.path("gamma", changed_key) == cache.path("gamma", key)) is same


def test_the_key_follows_the_protocol_and_the_method(tmp_path):
    cache, key = cache_of(tmp_path)
    cfg = compose_config("train", [*TINY_RUN, *TINY_SYNTHETIC], tmp_path / "run")
    without_gt_mean = BaselineCache(cache.folder, shared_key(cfg, gt_mean_metrics=False), gt_mean_metrics=False)
    assert without_gt_mean.path("gamma", without_gt_mean.key("gamma", key["method_config"])) != cache.path("gamma", key)
    tuned = json.loads(json.dumps(key["method_config"]))
    tuned["net"]["target_mean"] = 0.5
    assert cache.path("gamma", cache.key("gamma", tuned)) != cache.path("gamma", key)
    assert key["lle"] and key["source"] and key["torch"]
