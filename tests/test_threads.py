"""torch's CPU threads follow the CPUs the process may use, not the machine's core count."""

import json
import os
import subprocess
import sys

import pytest
import torch

from lle.config import UsageError
from lle.runs.threads import choose_cpu_threads, set_cpu_threads, usable_cpus


@pytest.fixture
def clean_environment(monkeypatch):
    """No inherited thread settings; torch's own count and OMP_NUM_THREADS restored afterwards."""
    for name in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(name, raising=False)
    threads = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(threads)


needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this system")


@needs_affinity
def test_auto_takes_the_cpus_of_the_processs_affinity_not_the_machines(clean_environment):
    code = "from lle.runs.threads import choose_cpu_threads; print(choose_cpu_threads('auto'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK")}
    # A child bound to one CPU (as taskset or SLURM's binding does), on a machine of two or more.
    one_cpu = subprocess.run(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}}); {code}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert one_cpu.stdout.strip() == '(1, "1 CPU: the process\'s CPU affinity")'
    cpus = len(os.sched_getaffinity(0))
    assert choose_cpu_threads("auto")[0] == min(cpus, usable_cpus()[0])


def test_slurm_allotment_user_setting_and_processes_are_respected(clean_environment):
    clean_environment.setenv("SLURM_CPUS_PER_TASK", "1")
    assert choose_cpu_threads("auto") == (1, "1 CPU: SLURM_CPUS_PER_TASK")
    clean_environment.delenv("SLURM_CPUS_PER_TASK")
    cpus = usable_cpus()[0]
    assert choose_cpu_threads("auto", processes=2)[0] == max(1, cpus // 2)
    assert choose_cpu_threads(3) == (3, "cpu_threads")
    clean_environment.setenv("OMP_NUM_THREADS", "1")
    assert choose_cpu_threads("auto") == (1, "OMP_NUM_THREADS")
    for wrong in (0, -2, "many", 1.5, True):
        with pytest.raises(UsageError, match="cpu_threads is 'auto' or a positive number"):
            choose_cpu_threads(wrong)


def test_setting_the_threads_sets_torch_and_what_child_processes_inherit(clean_environment):
    assert set_cpu_threads(1) == "torch CPU threads: 1 (cpu_threads)"
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"


def test_a_run_logs_and_records_its_threads(tmp_path, clean_environment):
    from conftest import TINY_RUN, TINY_SYNTHETIC

    command = [sys.executable, "-m", "lle.cli.train", *TINY_RUN, *TINY_SYNTHETIC, "model=gamma", "cpu_threads=1"]
    command += [f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torch CPU threads: 1 (cpu_threads)" in proc.stdout + proc.stderr
    assert json.loads((tmp_path / "run" / "environment.json").read_text())["torch_threads"] == 1
    bad = subprocess.run([*command[:-1], "cpu_threads=lots"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "cpu_threads is 'auto' or a positive number" in bad.stderr
    assert "Traceback" not in bad.stderr
