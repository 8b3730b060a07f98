"""Sweeps beyond one process: the SLURM and joblib launcher configs, Lightning's SLURM environment, and a
real Optuna search whose objective is what lle-train returns."""

import json
import pickle
import sys
from pathlib import Path

import pytest
import submitit
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import OmegaConf

from conftest import CONFIG_DIR, TINY_RUN, TINY_SYNTHETIC, compose_config
from lle.config import register_resolvers
from lle.slurm.request import gres_gpus, register_resolver
from test_cli import run_cli


def compose_with_hydra(*overrides: str, config_name: str = "train"):
    """The train config as `lle-train` composes it, including the `hydra:` node (launcher, sweeper)."""
    register_resolvers()
    register_resolver()  # as the SLURM launcher's callback does before Hydra builds the launcher
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)


def test_slurm_launcher_follows_the_trainer(tmp_path):
    cfg = compose_with_hydra(
        "hydra/launcher=submitit_slurm",
        "trainer=ddp",
        "trainer.devices=4",
        "trainer.num_nodes=2",
        "hydra.launcher.partition=gpu",
        f"hydra.sweep.dir={tmp_path}",
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    # Lightning requires --ntasks-per-node == devices and --nodes == num_nodes: derived, never typed twice.
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert (launcher.partition, launcher.timeout_min, launcher.mem_gb, launcher.cpus_per_task) == ("gpu", 1440, 64, 8)
    assert launcher.max_num_timeout == 0
    # It extends the plugin's config of the same name: the plugin's other options are still there.
    assert (launcher.account, launcher.qos, launcher.array_parallelism) == (None, None, 256)

    single = compose_with_hydra("hydra/launcher=submitit_slurm", "hydra.launcher.gpus_per_node=null").hydra.launcher
    assert (single.nodes, single.tasks_per_node, single.gpus_per_node, single.partition) == (1, 1, None, None)


@pytest.mark.parametrize(
    ("command", "overrides", "gpus"),
    [
        ("train", [], 1),  # the default trainer (accelerator auto) and a network: a GPU where there is one
        ("train", ["trainer=cpu"], None),
        ("train", ["trainer=ddp_cpu", "trainer.num_nodes=2"], None),
        ("train", ["model=gamma"], None),  # a classical method computes nothing worth a GPU
        ("train", ["model=he", "trainer=gpu"], 1),  # unless the user puts it on one
        ("train", ["trainer=ddp", "trainer.devices=4"], 4),
        ("eval", ["model=clahe"], None),
        ("eval", [], 1),  # a checkpoint (ckpt_path=…): a network
    ],
)
def test_slurm_jobs_ask_for_gpus_only_where_they_compute_on_them(command, overrides, gpus):
    launcher = compose_with_hydra("hydra/launcher=submitit_slurm", *overrides, config_name=command).hydra.launcher
    assert launcher.gpus_per_node == gpus


@pytest.mark.parametrize(
    ("sweep", "gpus"),
    [
        (["model=gamma,he"], None),  # the sweep's own config holds the default model (a network), not these
        (["model=gamma,gladnet"], 1),  # one job array, one request: what the most demanding job needs
        (["model=gamma", "trainer=cpu,gpu"], 1),
        (["trainer=ddp", "trainer.devices=1,2"], 2),
        (["model=he", "seed=1,2,3"], None),
        (["trainer=cpu", "hparams_search=optuna", "model=gladnet"], None),  # interval() sweeps are left alone
    ],
)
def test_a_slurm_sweep_asks_for_gpus_when_one_of_its_jobs_computes_on_them(sweep, gpus):
    register_resolvers()
    register_resolver()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        cfg = loader.load_configuration("train", ["hydra/launcher=submitit_slurm", *sweep], run_mode=RunMode.MULTIRUN)
        assert cfg.hydra.launcher.gpus_per_node == gpus


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [("(null)", 0), ("gpu:4", 4), ("gpu:a100:4(S:0-1)", 4), ("gpu:a100:2,gpu:v100:1,mps:200", 3), ("mps:100", 0)],
)
def test_gpus_are_counted_from_what_sinfo_shows(gres, gpus):
    assert gres_gpus(gres) == gpus


def test_the_local_slurm_cluster_says_why_it_cannot_run_here(monkeypatch):
    """What the SLURM tests (tests/slurm) print when they skip."""
    from lle.slurm import local

    monkeypatch.setattr(local, "tool", lambda name: None if name in ("slurmd", "munged") else f"/usr/bin/{name}")
    assert local.unavailable() == (
        "munged, slurmd not found: install SLURM and MUNGE (Debian: apt-get install slurm-wlm munge)"
    )
    monkeypatch.setattr(local, "tool", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)
    assert local.unavailable().startswith("the local SLURM cluster runs its daemons as root")


def test_slurm_launcher_writes_the_sbatch_script(tmp_path, monkeypatch):
    """The real Hydra launcher and submitit, up to the point where `sbatch` would be called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit only checks that srun exists
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    submitted = {}

    class Submitted:
        def results(self):
            return ["returned by the job"]

    def map_array(executor, fn, *job_params):
        submitted["sbatch"] = executor._executor._make_submission_file_text("<command>", "<uid>")
        submitted["overrides"] = list(job_params[0])
        return [Submitted() for _ in job_params[0]]

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    cfg = compose_with_hydra(
        "hydra/launcher=submitit_slurm",
        "trainer=ddp",
        "trainer.devices=4",
        "trainer.num_nodes=2",
        "hydra.launcher.partition=gpu",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)  # both are used by the job only
    returns = launcher.launch([["model=gladnet"], ["model=mirnet"]], initial_job_idx=0)

    assert returns == ["returned by the job"] * 2
    assert submitted["overrides"] == [["model=gladnet"], ["model=mirnet"]]
    for flag in (
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--partition=gpu",
        "--time=1440",
        "--mem=64GB",
        "--cpus-per-task=8",
        "--job-name=lle_train",
        "--signal=USR1@120",  # lle-train saves its step and requeues itself (lle.callbacks.preemption)
        "--requeue",
    ):
        assert f"#SBATCH {flag}\n" in submitted["sbatch"], flag
    assert f"{tmp_path / 'sweep' / '.submitit'}" in submitted["sbatch"]
    # One process per task (srun starts nodes × tasks_per_node = 8 of them; Lightning starts none itself), each
    # logging to its own file (%t: the task), running the pickled job.
    (srun,) = [line for line in submitted["sbatch"].splitlines() if line.startswith("srun ")]
    assert srun.startswith("srun --unbuffered --output ") and srun.endswith(" <command>")
    assert f"{tmp_path / 'sweep' / '.submitit'}/%j/%j_%t_log.out" in srun
    assert "--signal=USR2" not in submitted["sbatch"]  # submitit's own signal would stop a step anywhere


@pytest.fixture
def slurm_task(monkeypatch):
    """The environment srun gives task 5 of a 2-node × 4-task job."""
    for key, value in {
        "SLURM_NTASKS": "8",
        "SLURM_NTASKS_PER_NODE": "4",
        "SLURM_NNODES": "2",
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_ID": "4242",
        "SLURM_NODELIST": "gpu[07-08]",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # else Lightning's launcher changes this process's torch threads
    # A Trainer built here sets Lightning's process-wide rank (to 5); restore it so later tests run as rank 0.
    import lightning_fabric.utilities.rank_zero as fabric_rank_zero
    import pytorch_lightning.utilities.rank_zero as pl_rank_zero

    for module in (fabric_rank_zero, pl_rank_zero):
        monkeypatch.setattr(module.rank_zero_only, "rank", getattr(module.rank_zero_only, "rank", 0))


def slurm_trainer(tmp_path: Path, devices: int, num_nodes: int):
    # trainer=ddp on the CPU here; on the cluster the same preset runs on GPUs.
    cfg = compose_config(
        "train",
        ["trainer=ddp", "trainer.accelerator=cpu", f"trainer.devices={devices}", f"trainer.num_nodes={num_nodes}"],
        tmp_path,
    )
    return instantiate(cfg.trainer)


def test_lightning_takes_ranks_from_slurm(slurm_task, tmp_path):
    trainer = slurm_trainer(tmp_path, devices=4, num_nodes=2)
    environment = trainer.strategy.cluster_environment
    assert isinstance(environment, SLURMEnvironment) and environment.creates_processes_externally
    assert (trainer.global_rank, trainer.local_rank, trainer.node_rank, trainer.world_size) == (5, 1, 1, 8)
    assert environment.main_address == "gpu07"
    # What fit() does first: check the SLURM task layout, then run in this process (srun started the others).
    assert trainer.strategy.launcher.launch(lambda: "started") == "started"


@pytest.mark.parametrize("devices,num_nodes,message", [(2, 2, "ntasks-per-node=4"), (4, 1, "nodes=2")])
def test_lightning_refuses_a_layout_that_differs_from_slurm(slurm_task, tmp_path, devices, num_nodes, message):
    trainer = slurm_trainer(tmp_path, devices=devices, num_nodes=num_nodes)
    with pytest.raises(ValueError, match=message):
        trainer.strategy.launcher.launch(lambda: "started")


def test_joblib_launcher_config():
    launcher = compose_with_hydra("hydra/launcher=joblib").hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert launcher.n_jobs == 2 and launcher.prefer == "processes"  # ours (the plugin's is -1), then the plugin's


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(
        [
            sys.executable,
            "-m",
            "lle.cli.train",
            "-m",
            "hydra/launcher=joblib",
            "model=gamma,he",
            *TINY_RUN,
            *TINY_SYNTHETIC,
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
    )
    assert "Joblib.Parallel(n_jobs=2," in proc.stdout + proc.stderr
    for job in ("0_gamma", "1_he"):
        assert json.loads((sweep / job / "metrics.json").read_text())["status"] == "ok"


NETWORKS = ("gladnet", "mirnet", "mirnet_v2", "absgn", "alen")  # lle.modules.EnhancementModule


@pytest.mark.parametrize("model", [*NETWORKS, "retinexnet"])
def test_optuna_searches_what_the_model_has_and_keeps_its_loss(model):
    search = "optuna_retinexnet" if model == "retinexnet" else "optuna"
    cfg = compose_with_hydra(f"hparams_search={search}", f"model={model}")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.lle_optuna_sweeper.ResumableOptunaSweeper"  # the plugin's, resumable
    assert (sweeper.direction, sweeper.n_trials, sweeper.n_jobs) == ("maximize", 20, 1)
    assert sweeper.storage == f"sqlite:///{cfg.hydra.sweep.dir}/optuna.db"  # the study survives in the sweep dir
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 12345
    assert cfg.optimized_metric == "val/psnr_best"
    for key in sweeper.params:  # a key the trial could not override would stop the search at its first job
        assert OmegaConf.select(cfg, key) is not None, key
    alone = compose_with_hydra(f"model={model}")
    assert cfg.loss == alone.loss  # the model's own loss, not one imposed by the search
    if model == "retinexnet":
        assert dict(sweeper.params) == {
            "model.lr": "tag(log, interval(1.0e-4, 1.0e-2))",
            "model.relight_loss.smooth_weight": "tag(log, interval(0.3, 10.0))",
        }
        assert compose_with_hydra("hparams_search=optuna_retinexnet").model._target_ == "lle.modules.RetinexNetModule"
    else:
        assert dict(sweeper.params) == {"model.optimizer.lr": "tag(log, interval(1.0e-5, 1.0e-2))"}


def test_optuna_search_maximises_what_lle_train_returns(tmp_path):
    sweep = tmp_path / "search"
    # ABSGN's own loss is L1 + SSIM: its weight joins the search on the command line, as optuna.yaml shows.
    # PickleJobInfoCallback (Hydra's own) stores each job's return value next to the job.
    run_cli(
        [
            sys.executable,
            "-m",
            "lle.cli.train",
            "-m",
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=2",
            *TINY_RUN,
            *TINY_SYNTHETIC,
            "model=absgn",
            "model.net.start_channels=8",
            "loss.ssim_weight=interval(0.0,0.5)",
            f"hydra.sweep.dir={sweep}",
            "+hydra.callbacks.job_info._target_=hydra.experimental.callbacks.PickleJobInfoCallback",
        ],
        cwd=tmp_path,
    )
    trials = sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file())
    assert [t.name for t in trials] == ["0_absgn", "1_absgn"]
    returned = {}
    for trial in trials:
        metrics = json.loads((trial / "metrics.json").read_text())
        with open(trial / ".hydra" / "job_return.pickle", "rb") as f:
            returned[trial.name] = pickle.load(f).return_value
        assert metrics["status"] == "ok" and returned[trial.name] == metrics["val/psnr_best"]
        config = yaml.safe_load((trial / "config.yaml").read_text())
        assert config["loss"]["_target_"] == "lle.losses.L1SSIMLoss" and config["loss"]["l1_weight"] == 0.85
        assert 1e-5 <= config["model"]["optimizer"]["lr"] <= 1e-2 and 0 <= config["loss"]["ssim_weight"] <= 0.5
        overrides = yaml.safe_load((trial / ".hydra" / "overrides.yaml").read_text())
        assert f"model.optimizer.lr={config['model']['optimizer']['lr']!r}" in overrides
    assert returned["0_absgn"] != returned["1_absgn"]

    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    best = max(returned, key=returned.get)
    assert result["best_value"] == returned[best]  # maximised, and the value is lle-train's return
    best_config = yaml.safe_load((sweep / best / "config.yaml").read_text())
    assert result["best_params"] == {
        "model.optimizer.lr": best_config["model"]["optimizer"]["lr"],
        "loss.ssim_weight": best_config["loss"]["ssim_weight"],
    }


def test_a_study_is_continued_only_with_its_own_model(tmp_path):
    import os
    import subprocess

    sweep = tmp_path / "search"
    search = [sys.executable, "-m", "lle.cli.train", "-m", "hparams_search=optuna", *TINY_RUN, *TINY_SYNTHETIC]
    gladnet = ["model=gladnet", "model.net.global_channels=8", "model.net.detail_channels=8"]
    run_cli([*search, *gladnet, "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    results = (sweep / "optimization_results.yaml").read_text()
    other = subprocess.run(
        [*search, "model=absgn", "model.net.start_channels=8", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert other.returncode != 0
    assert "study 'lle'" in other.stderr and "belongs to model=gladnet; this search is model=absgn" in other.stderr
    assert "Traceback" not in other.stderr
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")) == ["0_gladnet"]
    assert (sweep / "optimization_results.yaml").read_text() == results
    # The same model continues the study.
    run_cli([*search, *gladnet, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert (sweep / "1_gladnet" / "metrics.json").is_file()
