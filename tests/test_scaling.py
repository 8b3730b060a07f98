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

from conftest import NODES_DATA, SMALL_GLADNET, TINY_RUN, TINY_SYNTHETIC
from lle.runs.guard import RunDirectoryTaken, _refuse_existing_sweep


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

    # An ordinary sweep is still refused there (the guard, as on_multirun_start calls it); the same search is not:
    # it continues the study, two trials at a time in parallel processes (joblib), all written into the one
    # study by the sweeper.
    with pytest.raises(RunDirectoryTaken, match=r"already holds a sweep \(optuna\.db\)"):
        _refuse_existing_sweep(sweep)
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


# Two epochs of 4 steps, bit-reproducible on the CPU; the signal comes in the middle of the second epoch.
PREEMPTIBLE = [
    sys.executable,
    "-m",
    "lle.cli.train",
    *[a for a in TINY_RUN if not a.startswith("trainer=")],
    "trainer=deterministic",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=null",
    *TINY_SYNTHETIC,
    "data.samples_per_epoch=8",
    *SMALL_GLADNET,
    "callbacks.image_grid=null",
]
WANDB_OFFLINE = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_BASE_URL": "http://127.0.0.1:9",
    "NETRC": "/nonexistent",
}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    subprocess.run([*PREEMPTIBLE, f"hydra.run.dir={run}"], cwd=run.parent, env=_env(), check=True, timeout=600)
    return run


def _state(run: Path) -> dict:
    import torch

    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "during", "stops_after"), [(signal.SIGTERM, "validation", 5), (signal.SIGUSR1, "training", 6)]
)
def test_a_preempted_run_saves_its_step_and_continues_to_the_same_result(
    uninterrupted, tmp_path, signum, during, stops_after
):
    """SIGTERM (a pre-emption) during the first epoch's validation: the validation finishes, the run stops after
    the next training step and, restarted with ckpt_path=auto, logs into the same W&B run. SIGUSR1 in a SLURM job
    (SLURM's warning before the time limit) during a step: the job requeues itself (`scontrol`, here a recording
    stand-in) and its rerun, the same command line, continues by itself (SLURM_RESTART_COUNT=1)."""
    run = tmp_path / "run"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    slurm = signum == signal.SIGUSR1
    tests = str(Path(__file__).parent)  # lle_test_helpers
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
    env = _env(PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=path, **WANDB_OFFLINE)
    if slurm:
        env["SLURM_JOB_ID"] = "4242"  # only the id: Lightning's SLURM environment needs more, and stays off
    command = [*PREEMPTIBLE, f"hydra.run.dir={run}", *([] if slurm else ["logger=wandb", "ckpt_path=auto"])]
    signal_at = [
        "+callbacks.signal_at._target_=lle_test_helpers.SignalAtStep",
        f"+callbacks.signal_at.step={4 if during == 'validation' else 5}",  # an epoch is 4 steps
        f"+callbacks.signal_at.during={during}",
    ]
    first = subprocess.run(
        [*command, *signal_at, f"+callbacks.signal_at.signum={int(signum)}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = first.stdout + first.stderr
    assert first.returncode == 128 + signum, output[-3000:]
    name = signal.Signals(signum).name
    assert (
        f"{name} received: stopped after global step {stops_after}, saved {run / 'checkpoints' / 'last.ckpt'}" in output
    )
    assert f"run interrupted by {name} before it finished; resume with ckpt_path=" in output
    assert _metrics(run)["status"] == "interrupted"
    saved = _state(run)
    assert (saved["global_step"], saved["epoch"]) == (stops_after, 1)  # the step it stopped at, mid-epoch
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n" if slurm else True

    restarted = subprocess.run(
        command, cwd=tmp_path, env={**env, "SLURM_RESTART_COUNT": "1"} if slurm else env, capture_output=True, text=True
    )
    assert restarted.returncode == 0, (restarted.stdout + restarted.stderr)[-3000:]
    assert f"resuming from {run / 'checkpoints' / 'last.ckpt'}" in restarted.stdout + restarted.stderr
    expected, resumed = _state(uninterrupted)["state_dict"], _state(run)["state_dict"]
    for key in expected:
        assert torch_equal(expected[key], resumed[key]), key
    reference = _metrics(uninterrupted)
    for key in ("test/psnr", "test/ssim", "val/psnr"):
        assert _metrics(run)[key] == reference[key], key
    if not slurm:  # both parts logged into one W&B run
        runs = sorted((run / "wandb").glob("offline-run-*"))
        assert len(runs) == 2 and len({r.name.rsplit("-", 1)[1] for r in runs}) == 1, runs


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_train_and_evaluate_as_one_process_with_the_same_global_batch(tmp_path):
    """Two "nodes" of one CPU process each, on localhost, as on a cluster without SLURM: the same command on each
    node, with the rendezvous (MASTER_ADDR, MASTER_PORT) and the node's rank (NODE_RANK) in its environment.
    Each rank trains on data.batch_size samples a step (every world_size-th key of the epoch's order), so
    2 nodes × batch 2 is the global batch 4 of one process; DDP averages the gradients, the lr is unchanged."""
    import torch

    nodes_run, single_run = tmp_path / "nodes", tmp_path / "single"
    two_nodes = ["trainer=ddp_cpu", "trainer.devices=1", "trainer.num_nodes=2", "data.batch_size=2"]
    train = [sys.executable, "-m", "lle.cli.train", *NODES_DATA]
    rendezvous = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    nodes = [
        subprocess.Popen(
            [*train, *two_nodes, f"hydra.run.dir={nodes_run}"],
            cwd=tmp_path,
            env=_env(NODE_RANK=str(rank), **rendezvous),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]  # node 1 is the second of two ranks
    subprocess.run(
        [*train, "trainer=cpu", "data.batch_size=4", f"hydra.run.dir={single_run}"],
        cwd=tmp_path,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    on_nodes, alone = _state(nodes_run), _state(single_run)
    assert on_nodes["global_step"] == alone["global_step"] == 4
    # Equal up to the order of float additions, which Adam's first steps amplify where a gradient is near zero
    # (each weight moves by about lr = 1e-3 whatever its gradient's size): within half a step.
    for key, value in alone["state_dict"].items():
        assert torch.allclose(on_nodes["state_dict"][key], value, rtol=0, atol=5e-4), key
    nodes_metrics, single_metrics = _metrics(nodes_run), _metrics(single_run)
    for key in ("val/psnr", "val/ssim", "test/psnr", "test/ssim", "test/psnr_gtmean"):
        assert nodes_metrics[key] == pytest.approx(single_metrics[key], abs=1e-4), key
    assert nodes_metrics["split_sizes"] == single_metrics["split_sizes"]


SUBMITIT_LOCAL = [sys.executable, "-m", "lle.cli.train", "-m", "hydra/launcher=submitit_local", "model=gamma,he"]


@pytest.mark.slow
def test_a_multirun_through_submitit_runs_each_job_as_a_submitit_job(tmp_path):
    """hydra/launcher=submitit_local: the same launcher code path as SLURM (pickled jobs, submitit's job
    environment and logs, results collected from the job folders), with local processes instead of sbatch."""
    sweep = tmp_path / "sweep"
    done = subprocess.run(
        [*SUBMITIT_LOCAL, *TINY_RUN, *TINY_SYNTHETIC, f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for job in ("0_gamma", "1_he"):
        assert _metrics(sweep / job)["status"] == "ok"
    logs = sorted((sweep / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2, logs  # one submitit job each, with its own log
    assert all("Job completed successfully" in log.read_text() for log in logs)
    assert not (sweep / ".lle-running.json").exists()
