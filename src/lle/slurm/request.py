"""What an lle job asks SLURM for, and a check of that request against the cluster before anything is submitted.

`conf/hydra/launcher/submitit_slurm.yaml` wires both: its `gpus_per_node` is `${lle_slurm_gpus:}` (GPUs only for a
job that computes on them), and it adds `SlurmRequestCheck` to the Hydra callbacks, which registers that resolver
and, as the sweep starts, asks the cluster whether it can ever run the request (`sbatch --test-only`). A request
no node can meet is otherwise either refused by sbatch with a traceback that names no lle option (a GPU on a
partition without GPUs, more memory than a node has) or, worse, accepted and left pending for ever (more CPUs than
a node has); here it is one message naming the option to change, and exit status 2.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

GPU_ACCELERATORS = ("gpu", "cuda")
# The options that decide whether a job computes on GPUs; a sweep over one of them decides per job.
DECIDING_KEYS = ("model", "trainer", "trainer.accelerator", "trainer.devices")


def job_gpus(cfg: DictConfig) -> int | None:
    """GPUs per node for one job: `trainer.devices` when it computes on GPUs, that is with `trainer.accelerator=gpu`,
    or `auto` (the default, a GPU where there is one) for a network; none on the CPU or for a classical method (a
    model with nothing to train, `optimizer: null`), which would only hold a GPU idle."""
    trainer = cfg.get("trainer") or {}
    accelerator = trainer.get("accelerator", "auto")
    model = cfg.get("model")
    classical = isinstance(model, DictConfig) and "optimizer" in model and model.optimizer is None
    if accelerator in GPU_ACCELERATORS or (accelerator == "auto" and not classical):
        return trainer.get("devices", 1)
    return None


def sweep_gpus(_root_: DictConfig) -> int | None:
    """The resolver `${lle_slurm_gpus:}`: GPUs per node for the whole sweep (its jobs are one SLURM job array with
    one request), the most any of its jobs needs. The sweep's own config does not hold the values being swept
    (`model=gamma,he` leaves the default model there), so each combination of the swept `DECIDING_KEYS` is
    composed as its job will be."""
    counts = [job_gpus(cfg) for cfg in _sweep_job_configs(_root_)]
    counts = [n for n in counts if n is not None]
    return max(counts, default=None)


def _sweep_job_configs(root: DictConfig):
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    overrides = OverridesParser.create().parse_overrides(list(root.hydra.overrides.task))
    fixed = [o.input_line for o in overrides if not o.is_sweep_override()]
    swept = [
        [f"{o.get_key_element()}={value}" for value in o.sweep_string_iterator()]
        for o in overrides
        if o.is_discrete_sweep() and o.key_or_group in DECIDING_KEYS
    ]
    if not swept or not GlobalHydra.instance().is_initialized():
        yield root
        return
    loader = GlobalHydra.instance().config_loader()
    for combination in itertools.product(*swept):
        yield loader.load_configuration(
            config_name=root.hydra.job.config_name,
            overrides=[*root.hydra.overrides.hydra, *fixed, *combination],
            run_mode=RunMode.RUN,
        )


def register_resolver() -> None:
    if not OmegaConf.has_resolver("lle_slurm_gpus"):
        OmegaConf.register_new_resolver("lle_slurm_gpus", sweep_gpus)


class RequestRefused(ValueError):
    """The cluster cannot run the job request; the message names the option to change."""


@dataclass(frozen=True)
class Node:
    cpus: int
    memory_mb: int
    gpus: int


def sbatch_flags(launcher: DictConfig) -> list[str]:
    """The resource part of the sbatch script the submitit launcher writes for `launcher` (hydra.launcher)."""
    flags = {
        "nodes": launcher.nodes,
        "ntasks-per-node": launcher.tasks_per_node,
        "cpus-per-task": launcher.cpus_per_task,
        "gpus-per-node": launcher.gpus_per_node,
        "mem": f"{launcher.mem_gb}GB" if launcher.mem_gb is not None else None,
        "time": launcher.timeout_min,
        **{key: launcher.get(key) for key in ("partition", "qos", "account", "constraint", "gres")},
        **OmegaConf.to_container(launcher.additional_parameters),
    }
    flags = {key.replace("_", "-"): value for key, value in flags.items() if value is not None}  # as submitit writes
    return [f"--{key}" if value is True else f"--{key}={value}" for key, value in flags.items()]


def check_request(launcher: DictConfig) -> None:
    """Raise RequestRefused, naming the option, when the cluster cannot run what `launcher` asks for."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise RequestRefused(
            "hydra/launcher=submitit_slurm submits jobs with sbatch, which is not on PATH: run lle on a SLURM login "
            "node, or try the job on a local cluster first (lle-slurm-local start, docs/scaling.md)"
        )
    flags = sbatch_flags(launcher)
    done = subprocess.run(
        [sbatch, "--test-only", *flags, "--wrap=true"], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode == 0:
        return
    said = ((done.stderr or done.stdout).strip().splitlines() or ["no reason given"])[-1]
    reason = explain(launcher) or f"the job request is refused: {' '.join(flags)}"
    raise RequestRefused(f"{reason} [sbatch --test-only: {said}]")


def explain(launcher: DictConfig) -> str | None:
    """Which option asks for more than the cluster has, checked against the nodes of the partition (sinfo): the
    partition itself, then GPUs, CPUs and memory a node, then the number of nodes. None when all of them fit."""
    found = partitions()
    if found is None:
        return None
    by_name, default = found
    partition = launcher.partition or default
    if partition not in by_name:
        names = ", ".join(sorted(by_name)) or "none"
        return f"hydra.launcher.partition={launcher.partition}: the cluster has no such partition ({names})"
    nodes, tasks = by_name[partition], launcher.tasks_per_node
    gpus, cpus, gb = launcher.gpus_per_node or 0, launcher.cpus_per_task or 1, launcher.mem_gb or 0
    most_gpus, most_cpus = max(n.gpus for n in nodes), max(n.cpus for n in nodes)
    most_mb = max(n.memory_mb for n in nodes)
    on = f"the nodes of partition {partition} have"
    if len(nodes) < launcher.nodes:
        return (
            f"hydra.launcher.nodes={launcher.nodes} (trainer.num_nodes): partition {partition} has {len(nodes)} nodes"
        )
    if sum(n.gpus >= gpus for n in nodes) < launcher.nodes:
        return (
            f"hydra.launcher.gpus_per_node={gpus}: {on} {f'at most {most_gpus}' if most_gpus else 'no'} GPUs. A job "
            "asks for trainer.devices GPUs when it computes on GPUs (trainer.accelerator=gpu, or auto with a "
            "network): train on the CPU (trainer=cpu) or choose a partition with GPUs (hydra.launcher.partition=…)"
        )
    if sum(n.cpus >= cpus * tasks for n in nodes) < launcher.nodes:
        if tasks > most_cpus:  # one CPU a task is already too many: fewer tasks (processes) a node
            return (
                f"hydra.launcher.tasks_per_node={tasks} (trainer.devices: one process each): {on} at most "
                f"{most_cpus} CPUs; lower trainer.devices (and spread the processes with trainer.num_nodes)"
            )
        return (
            f"hydra.launcher.cpus_per_task={cpus}: {tasks} task(s) a node (trainer.devices) × {cpus} = "
            f"{cpus * tasks} CPUs, but {on} at most {most_cpus}; lower it (hydra.launcher.cpus_per_task="
            f"{most_cpus // tasks}) and keep data.num_workers below it"
        )
    if sum(n.memory_mb >= gb * 1024 for n in nodes) < launcher.nodes:
        return (
            f"hydra.launcher.mem_gb={gb} (a node): {on} at most {most_mb} MB; lower it "
            f"(hydra.launcher.mem_gb={max(1, most_mb // 1024)})"
        )
    fit = [n for n in nodes if n.gpus >= gpus and n.cpus >= cpus * tasks and n.memory_mb >= gb * 1024]
    if len(fit) < launcher.nodes:
        return (
            f"hydra.launcher.nodes={launcher.nodes} (trainer.num_nodes): partition {partition} has {len(fit)} "
            "node(s) that fit the rest of the request; lower trainer.num_nodes"
        )
    return None


def partitions() -> tuple[dict[str, list[Node]], str | None] | None:
    """The cluster's partitions and their nodes (sinfo), and the default partition's name; None when sinfo does
    not answer."""
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        return None
    done = subprocess.run(
        [sinfo, "--noheader", "--Node", "--format=%P|%c|%m|%G"], capture_output=True, text=True, timeout=60
    )
    if done.returncode:
        return None
    by_name, default = {}, None
    for line in done.stdout.splitlines():
        name, cpus, memory, gres = line.strip().split("|")
        if name.endswith("*"):  # sinfo marks the default partition
            name = default = name[:-1]
        by_name.setdefault(name, []).append(Node(int(cpus.rstrip("+")), int(memory.rstrip("+")), gres_gpus(gres)))
    return by_name, default


def gres_gpus(gres: str) -> int:
    """GPUs in a node's generic resources as sinfo shows them: gpu:4, gpu:a100:4(S:0-1), gpu:2,mps:100, (null)."""
    count = 0
    for entry in gres.split(","):
        parts = entry.split("(")[0].split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            count += int(parts[-1])
    return count


class SlurmRequestCheck(Callback):
    """Hydra callback (added by conf/hydra/launcher/submitit_slurm.yaml): registers `${lle_slurm_gpus:}` before
    Hydra builds the launcher, and refuses, before the sweep submits anything, a request the cluster cannot run
    (one message naming the option, exit status 2; a SystemExit, as Hydra turns a callback's exceptions into
    warnings)."""

    def __init__(self) -> None:
        register_resolver()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_request(config.hydra.launcher)
        except RequestRefused as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from err
