"""lle's own commands against a real SLURM cluster: `lle-slurm-local` starts MUNGE, slurmctld and two slurmd (nodes n1
and n2 on this machine) once for this module, and every test submits through `lle-train -m
hydra/launcher=submitit_slurm …` (real sbatch, real job arrays, real signals) and reads what the jobs left in their
run directories. Without slurm-wlm, munge or root the tests are skipped and say so; CI installs both (.ci/run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import NODES_DATA, SMALL_GLADNET, TINY_RUN, TINY_SYNTHETIC
from lle.slurm import local

pytestmark = pytest.mark.slurm

HELPERS = str(Path(__file__).parent)  # slurm_helpers, which the jobs import
LLE_SLURM_LOCAL = shutil.which("lle-slurm-local") or str(Path(sys.executable).with_name("lle-slurm-local"))
# The local nodes have 1 CPU each (on 2 cores) and a few GB: the defaults (8 CPUs, 64 GB) are refused, by name.
SMALL_NODES = ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
SUBMIT = [sys.executable, "-m", "lle.cli.train", "-m", "hydra/launcher=submitit_slurm", *SMALL_NODES]
# TINY_RUN without trainer=cpu: the default trainer (accelerator auto) must not ask for a GPU for a classical method.
TINY_AUTO = [a for a in TINY_RUN if a != "trainer=cpu"]


class Cluster:
    def __init__(self, folder: Path, conf: str):
        self.folder, self.conf = folder, conf

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SLURM_CONF": self.conf,
            "OMP_NUM_THREADS": "1",  # one CPU a node
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (HELPERS, os.environ.get("PYTHONPATH")) if p),
        }

    def client(self, *args: str) -> str:
        done = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
        return done.stdout

    def submit(self, *args: str, cwd: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [*SUBMIT, *args], cwd=cwd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The private cluster, through the command users get (`lle-slurm-local start/stop`); it is stopped, and every
    daemon it started is checked to be gone, whatever the tests did."""
    reason = local.unavailable()
    if reason:
        pytest.skip(f"no local SLURM cluster: {reason}")
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(
        [LLE_SLURM_LOCAL, "start", "--dir", str(folder)], capture_output=True, text=True, timeout=120
    )
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout == f"export SLURM_CONF={folder / 'slurm.conf'}\n"  # what a shell evals
        yield Cluster(folder, str(folder / "slurm.conf"))
    finally:
        stopped = subprocess.run([LLE_SLURM_LOCAL, "stop", "--dir", str(folder)], capture_output=True, text=True)
        assert stopped.returncode == 0, stopped.stderr
        assert local.running_daemons(folder) == {}, stopped.stdout


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    try:
        output = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        output = proc.communicate()[0]
    assert proc.returncode == 0, output[-4000:]
    return output


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _weights(run: Path) -> dict:
    import torch

    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def test_the_cluster_has_two_idle_nodes(cluster):
    assert local.node_states(cluster.folder) == {"n1": "idle", "n2": "idle"}
    status = subprocess.run(
        [LLE_SLURM_LOCAL, "status"], env=cluster.env(), capture_output=True, text=True, timeout=60
    )  # found through SLURM_CONF, as in the user's shell
    assert status.returncode == 0 and "nodes: n1 idle, n2 idle" in status.stdout, status.stdout
    accounting = "slurmdbd and MariaDB" if local.accounting_unavailable() is None else "none, sacct does not work"
    assert f"accounting: {accounting}" in status.stdout, status.stdout


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["model=gladnet", "trainer=gpu", *SMALL_NODES], "hydra.launcher.gpus_per_node=1: the nodes of partition "),
        (["model=gamma"], "hydra.launcher.cpus_per_task=8: 1 task(s) a node (trainer.devices) × 8 = 8 CPUs, but "),
        (["model=gamma", "hydra.launcher.cpus_per_task=1"], "hydra.launcher.mem_gb=64 (a node): the nodes of "),
    ],
)
def test_a_request_the_cluster_cannot_meet_is_refused_naming_the_option(cluster, tmp_path, overrides, named):
    """A GPU on a cluster without GPUs is refused by sbatch, more memory than a node has too, and more CPUs than a
    node has is accepted and never runs: each is refused before anything is submitted, as one message."""
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "lle.cli.train", "-m", "hydra/launcher=submitit_slurm", *overrides]
    done = subprocess.run(
        [*command, f"hydra.sweep.dir={sweep}"], env=cluster.env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: {named}") and "Traceback" not in done.stderr, done.stderr
    assert "[sbatch --test-only: " in done.stderr  # what SLURM itself said
    assert not sweep.exists() and cluster.client("squeue", "--noheader") == ""


def test_a_sweep_of_three_jobs_reports_two_results_and_a_failed_job(cluster, tmp_path):
    """Three jobs of one array on two nodes; the third fails inside its job (a bad value, found by lle-train there):
    its error is in its metrics.json, the other two have results, and the sweep ends with its summary. The classical
    method on the default trainer (accelerator auto) asks for no GPU, which this cluster does not have."""
    sweep = tmp_path / "sweep"
    output = _finish(
        cluster.submit(
            "model=gamma", "seed=1,2,oops", *TINY_AUTO, *TINY_SYNTHETIC, f"hydra.sweep.dir={sweep}", cwd=tmp_path
        )
    )
    jobs = [sweep / f"{i}_gamma" for i in range(3)]
    for job in jobs[:2]:
        record = _metrics(job)
        assert record["status"] == "ok" and record["test/psnr"] > 0, record
    failed = _metrics(jobs[2])
    assert failed["status"] == "failed" and "seed='oops': expected a whole number" in failed["error"], failed
    assert f"sweep {sweep}: 3 jobs, 1 not ok" in output
    (row,) = [line for line in output.splitlines() if line.startswith("  failed  gamma ")]
    assert row.endswith("  2_gamma  (UsageError: seed='oops': expected a whole number)"), row
    # Each job ran as an element of one SLURM array (its id is the job's hydra.job.id), and none asked for a GPU.
    ids = [yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["id"] for job in jobs]
    array = ids[0].split("_")[0]
    assert ids == [f"{array}_{i}" for i in range(3)], ids
    script = (sweep / ".submitit" / array / f"{array}_submission.sh").read_text()
    assert "#SBATCH --cpus-per-task=1\n" in script and "gpus" not in script


def test_lle_eval_of_a_classical_method_runs_as_a_job_without_a_gpu(cluster, tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "lle.cli.eval", "-m", "hydra/launcher=submitit_slurm", *SMALL_NODES, "model=he"]
    data = [a for a in TINY_SYNTHETIC if not a.startswith(("data.crop_size", "data.batch_size", "data.samples_"))]
    proc = subprocess.Popen(
        [*command, *data, "baselines=false", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        env=cluster.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert f"sweep {sweep}: 1 jobs, all ok" in _finish(proc)
    assert _metrics(sweep / "0_he")["test/psnr"] > 0
    assert "gpus" not in next((sweep / ".submitit").rglob("*_submission.sh")).read_text()


PREEMPTIBLE = [
    *[a for a in TINY_RUN if not a.startswith("trainer=")],
    "trainer=deterministic",  # bit-reproducible on the CPU
    "trainer.accelerator=cpu",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=null",
    *TINY_SYNTHETIC,
    "data.samples_per_epoch=8",  # 2 epochs of 4 steps
    *SMALL_GLADNET,
    "callbacks.image_grid=null",
]


def test_a_preempted_job_is_requeued_and_resumes_to_the_uninterrupted_result(cluster, tmp_path):
    """Two identical jobs run side by side; job 0 gets SLURM's own signal (`scancel --signal=USR1`) in the middle of
    its second epoch: it saves last.ckpt at the step it is in and requeues itself (scontrol requeue); released from
    SLURM's requeue hold, the rerun resumes in the same run directory and ends with job 1's weights and metrics.
    SLURM's accounting (sacct) records the requeue, where the cluster has it."""
    sweep, marker = tmp_path / "sweep", tmp_path / "paused.json"
    proc = cluster.submit(
        *PREEMPTIBLE,
        "+callbacks.pause._target_=slurm_helpers.PauseForSignal",
        "+callbacks.pause.step=5,1000",  # job 0 waits for the signal after step 5; job 1 never does
        f"+callbacks.pause.marker={marker}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 240
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), (proc.poll(), proc.stdout.read()[-3000:] if proc.poll() is not None else "")
    job = json.loads(marker.read_text())["job"]
    cluster.client("scancel", "--signal=USR1", job)
    # SLURM holds a requeued job back for about two minutes before it may start again: release it at once.
    deadline = time.monotonic() + 120
    while cluster.client("squeue", "--noheader", "--format=%T", f"--jobs={job}").strip() != "PENDING":
        assert time.monotonic() < deadline and proc.poll() is None, "the job was not requeued"
        time.sleep(0.2)
    cluster.client("scontrol", "update", f"JobId={job}", "StartTime=now")
    output = _finish(proc)
    assert f"sweep {sweep}: 2 jobs, all ok" in output

    preempted, twin = sweep / "0_gladnet", sweep / "1_gladnet"
    log = "".join(p.read_text() for p in sorted((sweep / ".submitit" / job).glob("*_log.*")))
    last = preempted / "checkpoints" / "last.ckpt"
    assert f"SIGUSR1 received: stopped after global step 6, saved {last}" in log
    assert f"requeued SLURM job {job}: it continues from the checkpoint when it restarts" in log
    assert f"ckpt_path=auto: resuming from {last}" in log  # the rerun (SLURM_RESTART_COUNT=1) in the same directory
    resumed, uninterrupted = _weights(preempted), _weights(twin)
    assert resumed["global_step"] == uninterrupted["global_step"] == 8
    for key, value in uninterrupted["state_dict"].items():
        assert resumed["state_dict"][key].equal(value), key
    for key in ("test/psnr", "test/ssim", "val/psnr"):
        assert _metrics(preempted)[key] == _metrics(twin)[key], key

    reason = local.accounting_unavailable()
    if reason:
        pytest.skip(f"requeue and resume checked, but not sacct's record of them: no accounting: {reason}")
    # Each run of the job is a record (-D keeps the requeued one): requeued, then completed. slurmctld sends them to
    # slurmdbd as it goes, so the last one may arrive a moment after the job has ended.
    sacct = ["sacct", "-D", "-X", "-j", job, "--noheader", "--parsable2", "--format=JobID,State"]
    deadline = time.monotonic() + 30
    while (history := cluster.client(*sacct).split())[-1:] != [f"{job}|COMPLETED"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert history == [f"{job}|REQUEUED", f"{job}|COMPLETED"], history
    assert "Bypassing sacct error" not in output  # submitit, which polls sacct, saw the job's states too


def test_a_two_node_job_trains_as_one_process_with_the_same_global_batch(cluster, tmp_path):
    """One job on both nodes (`--nodes=2 --ntasks-per-node=1`): srun starts a process on each, Lightning takes the
    ranks from SLURM and DDP meets over gloo; 2 nodes × batch 2 end where one process with batch 4 ends."""
    sweep, single = tmp_path / "sweep", tmp_path / "single"
    proc = cluster.submit(
        *NODES_DATA,
        "trainer=ddp_cpu",
        "trainer.devices=1",
        "trainer.num_nodes=2",
        "data.batch_size=2",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    reference = subprocess.run(  # meanwhile, here: the same run in one process with the global batch
        [
            sys.executable,
            "-m",
            "lle.cli.train",
            *NODES_DATA,
            "trainer=cpu",
            "data.batch_size=4",
            f"hydra.run.dir={single}",
        ],
        cwd=tmp_path,
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reference.returncode == 0, reference.stderr[-3000:]
    output = _finish(proc)
    assert f"sweep {sweep}: 1 jobs, all ok" in output
    logs = "".join(p.read_text() for p in sorted((sweep / ".submitit").rglob("*_log.*")))
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs
    script = next((sweep / ".submitit").rglob("*_submission.sh")).read_text()
    assert "#SBATCH --nodes=2\n" in script and "#SBATCH --ntasks-per-node=1\n" in script and "gpus" not in script
    on_nodes, alone = _weights(sweep / "0_gladnet"), _weights(single)
    assert on_nodes["global_step"] == alone["global_step"] == 4
    import torch

    # Equal up to the order of float additions (Adam's first steps move each weight by about lr whatever its gradient).
    for key, value in alone["state_dict"].items():
        assert torch.allclose(on_nodes["state_dict"][key], value, rtol=0, atol=5e-4), key
    for key in ("val/psnr", "test/psnr", "test/ssim"):
        assert _metrics(sweep / "0_gladnet")[key] == pytest.approx(_metrics(single)[key], abs=1e-4), key


def test_an_optuna_search_runs_its_trials_as_jobs_and_a_second_submission_continues_it(cluster, tmp_path):
    """Trials two at a time as SLURM jobs (one array a batch), their results in the one study the sweeper keeps in
    the sweep directory; the same command with a larger n_trials continues that study with a new job."""
    import optuna

    sweep = tmp_path / "search"
    search = [
        "hparams_search=optuna",
        *TINY_RUN,
        *TINY_SYNTHETIC,
        *SMALL_GLADNET,
        "hydra.sweeper.sampler.n_startup_trials=2",
        "hydra.sweeper.n_jobs=2",
        f"hydra.sweep.dir={sweep}",
    ]
    _finish(cluster.submit(*search, "hydra.sweeper.n_trials=2", cwd=tmp_path))
    storage = f"sqlite:///{sweep}/optuna.db"
    assert [t.state.name for t in optuna.load_study(study_name="lle", storage=storage).trials] == ["COMPLETE"] * 2
    first = [(sweep / f"{i}_gladnet" / "metrics.json").read_bytes() for i in range(2)]

    output = _finish(cluster.submit(*search, "hydra.sweeper.n_trials=3", cwd=tmp_path))
    assert "continuing study 'lle'" in output and f"sweep {sweep}: 3 jobs, all ok" in output
    trials = optuna.load_study(study_name="lle", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert [(sweep / f"{i}_gladnet" / "metrics.json").read_bytes() for i in range(2)] == first  # never rerun
    for trial in trials:  # job N is trial N, its value what that job's run recorded
        assert _metrics(sweep / f"{trial.number}_gladnet")["val/psnr_best"] == pytest.approx(trial.value)
    ids = [
        yaml.safe_load((sweep / f"{i}_gladnet" / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["id"]
        for i in range(3)
    ]
    assert ids[0].endswith("_0") and ids[1] == ids[0][:-1] + "1" and ids[2].split("_")[0] != ids[0].split("_")[0], ids
