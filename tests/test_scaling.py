"""Beyond one process, proven on one machine: an Optuna search that survives being killed, two "nodes" of DDP, the
submitit launcher (a real local multirun, and the sbatch script it would submit), and pre-emption by real signals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from conftest import TINY_RUN, TINY_SYNTHETIC
from test_cli import SMALL_GLADNET


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists() and proc.poll() is None, f"{path} was not written by a running process"


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


SEARCH = [
    sys.executable,
    "-m",
    "lle.cli.train",
    "-m",
    "hparams_search=optuna",
    *TINY_RUN,
    *TINY_SYNTHETIC,
    "model=gladnet",
    *SMALL_GLADNET,
    "hydra.sweeper.sampler.n_startup_trials=2",
]


@pytest.mark.slow
def test_a_killed_optuna_search_continues_its_study_with_parallel_trials(tmp_path):
    sweep = tmp_path / "search"
    first = subprocess.Popen(
        [*SEARCH, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(sweep / "1_gladnet" / ".lle-running.json", first)  # trial 0 finished, trial 1 training
    first.send_signal(signal.SIGKILL)  # the whole search dies, nothing is cleaned up
    first.wait()
    study = optuna.load_study(study_name="lle", storage=f"sqlite:///{sweep}/optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]
    trial0 = (sweep / "0_gladnet" / "metrics.json").read_bytes()

    # An ordinary sweep is still refused there; the same search is not: it continues the study, two trials at
    # a time in parallel processes (joblib), all written into the one study by the sweeper.
    refused = subprocess.run(
        [sys.executable, "-m", "lle.cli.train", "-m", "model=gamma,he", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2 and "already holds a sweep (optuna.db)" in refused.stderr, refused.stderr
    resumed = subprocess.run(
        [
            *SEARCH,
            "hydra.sweeper.n_trials=3",
            "hydra/launcher=joblib",
            "hydra.sweeper.n_jobs=2",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-4000:]
    assert "continuing study 'lle'" in output and "Joblib.Parallel(n_jobs=2," in output
    study = optuna.load_study(study_name="lle", storage=f"sqlite:///{sweep}/optuna.db")
    trials = study.trials
    # The killed trial 1 is rerun as trial 2 with its parameters; trial 3 is new; 3 trials ran to their end.
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[2].params == trials[1].params and trials[3].params != trials[1].params
    assert trials[1].user_attrs["lle_requeued_as"] == 2
    assert (sweep / "0_gladnet" / "metrics.json").read_bytes() == trial0  # never rerun nor written over
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit()) == [
        "0_gladnet",
        "1_gladnet",
        "2_gladnet",
        "3_gladnet",
    ]
    for trial in (trials[0], trials[2], trials[3]):  # job N is trial N
        run = sweep / f"{trial.number}_gladnet"
        assert _metrics(run)["val/psnr_best"] == pytest.approx(trial.value)
        lr = yaml.safe_load((run / "config.yaml").read_text())["model"]["optimizer"]["lr"]
        assert lr == pytest.approx(trial.params["model.optimizer.lr"])
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t.value for t in trials if t.value is not None))
    assert not (sweep / ".lle-running.json").exists()  # the search released its directory
