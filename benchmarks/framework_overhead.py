"""Lightning's cost per training step: lle's EnhancementModule in a real `Trainer.fit` vs a plain PyTorch loop.

    python benchmarks/framework_overhead.py            # the recorded run (docs/benchmarks.md)
    python benchmarks/framework_overhead.py --quick    # CI: the tiny workload, a few steps

Both loops train the same network (same initial weights) on the same fixed in-memory DataLoader with the
same batch, loss, optimizer and per-step scheduler, in one process, taking turns (`--rounds`) so that a
change in machine load hits both. Time per step is the median interval between the starts of consecutive
steps after `--warmup` steps, so it includes fetching and collating the batch in both loops. The ratio is
Lightning / plain within each round, then the median over rounds.

Lightning runs three ways:
- `lightning`: lle's CSV logger at lle's `log_every_n_steps`; progress bar, checkpointing and model summary
  off; no validation: the loop itself;
- `lightning+callbacks`: as lle-train runs it, with lle's default callbacks (checkpointing, LR monitor,
  Rich progress bar and model summary, image grids) on;
- `plain`: zero_grad, forward, loss, backward, optimizer and scheduler step.

Workloads: `default` is what `lle-train` trains by default (GLADNet, 128×128 crops, batch 8); `tiny` is a
GLADNet with 8 channels on 32×32 crops at batch 1, a step of milliseconds, which shows Lightning's
absolute per-step cost. The target is ratio ≤ 1.05 on `default`.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from lle.bench.machine import load_average, machine_info

WORKLOADS = {
    "default": dict(patch=128, batch=8, net={}),
    "tiny": dict(patch=32, batch=1, net=dict(global_channels=8, detail_channels=8)),
}


class InMemoryPairs(Dataset):
    """`length` items cycling through a fixed pool of random pairs: no decoding, no augmentation."""

    def __init__(self, length: int, pool: int, patch: int):
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.rand(pool, 3, patch, patch, generator=generator) * 0.2
        self.targets = torch.rand(pool, 3, patch, patch, generator=generator)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        i = index % len(self.inputs)
        return {"input": self.inputs[i], "target": self.targets[i], "name": f"pair_{i:04d}"}


class StepStarts(pl.Callback):
    def __init__(self):
        self.stamps: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.stamps.append(time.perf_counter())


def compose_train_config(model: str, output_dir: Path, net_overrides: dict):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lle.config import CONFIG_DIR, register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    overrides = [
        f"model={model}",
        "trainer=cpu" if not torch.cuda.is_available() else "trainer=gpu",
        "logger=csv",
        f"paths.output_dir={output_dir}",
        *[f"model.net.{k}={v}" for k, v in net_overrides.items()],
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


def step_times(stamps: list[float], warmup: int) -> list[float]:
    return [b - a for a, b in zip(stamps[warmup:], stamps[warmup + 1 :])]


def run_plain(module, loader: DataLoader, device: torch.device) -> list[float]:
    net, loss_fn = module.net.to(device), module.loss.to(device)
    net.train()
    optimizer = module.optimizer_factory(params=[p for p in net.parameters() if p.requires_grad])
    scheduler = module.scheduler_factory(optimizer=optimizer) if module.scheduler_factory else None
    stamps = []
    for batch in loader:
        stamps.append(time.perf_counter())
        x, y = batch["input"].to(device), batch["target"].to(device)
        optimizer.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return stamps


def run_lightning(module, loader: DataLoader, cfg, steps: int, with_callbacks: bool, output_dir: Path) -> list[float]:
    from hydra.utils import instantiate

    from lle.runs.task import instantiate_group

    timer = StepStarts()
    callbacks = [timer]
    if with_callbacks:
        callbacks += instantiate_group(cfg.callbacks)
    trainer = instantiate(
        cfg.trainer,
        max_steps=steps,
        max_epochs=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_progress_bar=with_callbacks,
        enable_checkpointing=with_callbacks,
        enable_model_summary=with_callbacks,
        callbacks=callbacks,
        logger=instantiate_group(cfg.logger) or False,
        default_root_dir=str(output_dir),
    )
    trainer.fit(module, train_dataloaders=loader)
    return timer.stamps


def measure(workload: str, model: str, steps: int, warmup: int, rounds: int) -> dict:
    from hydra.utils import instantiate

    spec = WORKLOADS[workload]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    total = warmup + steps + 1  # the last step's length is not known: one extra step closes it
    loader = DataLoader(
        InMemoryPairs(total * spec["batch"], pool=4 * spec["batch"], patch=spec["patch"]),
        batch_size=spec["batch"],
        shuffle=False,
        num_workers=0,
        drop_last=True,
    )
    names = ("plain", "lightning", "lightning+callbacks")
    per_round: dict[str, list[float]] = {name: [] for name in names}  # median step time of each run
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_train_config(model, Path(tmp), spec["net"])
        torch.manual_seed(0)
        template = instantiate(cfg.model, loss=instantiate(cfg.loss))
        for round_index in range(rounds):
            for name in names:
                module = copy.deepcopy(template)  # the same initial weights for every run
                run_dir = Path(tmp) / f"{name}_{round_index}"
                if name == "plain":
                    stamps = run_plain(module, loader, device)
                else:
                    stamps = run_lightning(module, loader, cfg, total, name.endswith("callbacks"), run_dir)
                per_round[name].append(statistics.median(step_times(stamps, warmup)))
                print(
                    f"  {workload} round {round_index + 1}/{rounds} {name:20s} {per_round[name][-1] * 1e3:9.2f} ms/step",
                    flush=True,
                )
    # Ratios within a round, then their median: load that drifts between rounds cancels out.
    ratio = {name: statistics.median(a / b for a, b in zip(per_round[name], per_round["plain"])) for name in names[1:]}
    medians = {name: statistics.median(values) for name, values in per_round.items()}
    return {
        "workload": workload,
        "model": model,
        "patch": spec["patch"],
        "batch": spec["batch"],
        "net": spec["net"],
        "steps_per_run": steps,
        "warmup": warmup,
        "rounds": rounds,
        "median_ms": {k: v * 1e3 for k, v in medians.items()},
        "per_round_ms": {k: [v * 1e3 for v in values] for k, values in per_round.items()},
        "ratio_lightning": ratio["lightning"],
        "ratio_lightning_callbacks": ratio["lightning+callbacks"],
        "overhead_ms_lightning": (medians["lightning"] - medians["plain"]) * 1e3,
        "overhead_ms_lightning_callbacks": (medians["lightning+callbacks"] - medians["plain"]) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gladnet", help="a model trained by EnhancementModule")
    parser.add_argument("--workloads", default="default,tiny", help=f"comma-separated, of {', '.join(WORKLOADS)}")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per run")
    parser.add_argument("--tiny-steps", type=int, default=200, help="timed steps per run of the tiny workload")
    parser.add_argument("--warmup", type=int, default=3, help="steps left out at the start of each run")
    parser.add_argument("--rounds", type=int, default=2, help="turns taken by the three loops")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="CI: the tiny workload, 10 steps, 1 round")
    parser.add_argument("--out", help="also write the JSON result to this file")
    args = parser.parse_args()
    if args.quick:
        args.workloads, args.tiny_steps, args.warmup, args.rounds = "tiny", 10, 2, 1
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # Lightning's advice (num_workers, …) would bury the figures
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    machine = machine_info()
    results = []
    for workload in args.workloads.split(","):
        steps = args.tiny_steps if workload == "tiny" else args.steps
        results.append(measure(workload, args.model, steps, args.warmup, args.rounds))

    print(
        f"\n{machine['cpu']}, {args.threads} threads, torch {machine['torch']}, Lightning {machine['pytorch_lightning']}, "
        f"load {machine['load_average']} → {load_average()}"
    )
    print(
        f"{'workload':10s} {'patch×batch':>12s} {'plain ms':>10s} {'Lightning ms':>13s} {'ratio':>6s} "
        f"{'+callbacks ms':>14s} {'ratio':>6s}"
    )
    for r in results:
        ms = r["median_ms"]
        print(
            f"{r['workload']:10s} {r['patch']:>7d}×{r['batch']:<4d} {ms['plain']:10.2f} {ms['lightning']:13.2f} "
            f"{r['ratio_lightning']:6.3f} {ms['lightning+callbacks']:14.2f} {r['ratio_lightning_callbacks']:6.3f}"
        )
    summary = {"machine": {**machine, "load_average_end": load_average(), "threads": args.threads}, "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
