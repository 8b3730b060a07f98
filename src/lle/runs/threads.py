"""How many CPU threads torch uses in a run: the CPUs this process may use, not the machine's.

torch starts one intra-op thread per core of the machine. On a SLURM node shared with other jobs, in a container
limited to fewer CPUs, or beside another run on a laptop, those threads outnumber the CPUs the process has, and
OpenMP's threads then wait for each other's time slices at every operation: two runs at once on 2 cores took 11.7×
the time of one alone, and 1.0× with one thread each (docs/scaling.md, "CPU threads"). `cpu_threads: auto` takes
the smallest of

* the CPUs the process may run on (its affinity: `taskset`, `numactl`, SLURM's CPU binding),
* `SLURM_CPUS_PER_TASK` (SLURM allots them without always binding the process to them),
* the cgroup's CPU quota (`docker run --cpus`, Kubernetes limits),

divided among the processes a CPU DDP run starts on this node and the jobs a joblib sweep runs at once. It cannot
see another program on the same CPUs: two runs side by side need `cpu_threads` (or `taskset`). A number sets it,
and so does a user's own `OMP_NUM_THREADS` under `auto`. The choice is logged, recorded in `environment.json`, and
exported as `OMP_NUM_THREADS` for the processes the run starts (Lightning's DDP processes keep it instead of
counting again).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from lle.config import UsageError

_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def usable_cpus() -> tuple[int, str]:
    """The number of CPUs this process may use and what limits it (for the log line)."""
    limits = []
    if hasattr(os, "sched_getaffinity"):
        limits.append((len(os.sched_getaffinity(0)), "the process's CPU affinity"))
    else:
        limits.append((os.cpu_count() or 1, "the machine's CPU count"))
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        limits.append((int(slurm), "SLURM_CPUS_PER_TASK"))
    quota = _cgroup_quota()
    if quota is not None:
        limits.append((quota, "the cgroup's CPU quota"))
    return min(limits, key=lambda limit: limit[0])


def _cgroup_quota() -> int | None:
    try:
        quota, period = _CGROUP_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def check_cpu_threads(option) -> None:
    """Refuses a `cpu_threads` that is neither "auto" nor a positive number."""
    if option == "auto" or (isinstance(option, int) and not isinstance(option, bool) and option > 0):
        return
    raise UsageError(f"cpu_threads is 'auto' or a positive number of threads, got {option!r}")


def choose_cpu_threads(option, processes: int = 1) -> tuple[int, str]:
    """The torch thread count for `cpu_threads` (checked) with `processes` lle processes on this node, and why."""
    check_cpu_threads(option)
    if option != "auto":
        return option, "cpu_threads"
    exported = os.environ.get("OMP_NUM_THREADS", "")
    if exported.isdigit() and int(exported) > 0:
        return int(exported), "OMP_NUM_THREADS"
    cpus, limit = usable_cpus()
    counted = f"{cpus} CPU{'s' if cpus != 1 else ''}"
    if processes > 1:
        return max(1, cpus // processes), f"{counted} ({limit}) shared by {processes} processes"
    return cpus, f"{counted}: {limit}"


def set_cpu_threads(option, processes: int = 1) -> str:
    """Sets torch's intra-op threads for `cpu_threads` and returns the sentence the run logs."""
    import torch

    threads, reason = choose_cpu_threads(option, processes)
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    return f"torch CPU threads: {threads} ({reason})"


def processes_on_this_node(cfg) -> int:
    """lle processes that share this node's CPUs in this run: a CPU DDP run's devices, times the jobs a joblib
    sweep runs at once."""
    trainer = cfg.get("trainer") or {}
    devices = trainer.get("devices", 1)
    on_cpu = trainer.get("accelerator") == "cpu" and isinstance(devices, int) and devices > 1
    return (devices if on_cpu else 1) * _parallel_sweep_jobs()


def _parallel_sweep_jobs() -> int:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return 1
    launcher = HydraConfig.get().launcher
    jobs = launcher.get("n_jobs") if "joblib" in str(launcher.get("_target_", "")) else None
    if isinstance(jobs, int) and jobs > 1:
        return jobs
    return (os.cpu_count() or 1) if jobs == -1 else 1  # joblib's -1: one job per CPU
