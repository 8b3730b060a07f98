"""Is data loading ever the bottleneck? Loader batches/s against the batches/s GLADNet training consumes.

    python benchmarks/data_pipeline.py            # the recorded run (docs/benchmarks.md)
    python benchmarks/data_pipeline.py --quick    # CI: small images, a few batches

Measured side by side in one process, at the same crop and batch size:
- the synthetic DataModule (lle-train's default data: 128×128 crops, batch 8) and the folder DataModule
  (`PairedImageDataModule` over a LOL-like tree of 400×600 PNGs written to a temporary directory, 256×256
  crops, batch 8), each with 0 and 2 worker processes: batches/s after the first batches (worker start-up
  is reported apart), the median of `--rounds` rounds in which the loaders take turns;
- GLADNet training steps (forward, official loss, backward, Adam) on batches of the same shape: the
  batches/s that training consumes. Target: loader ≥ 5× that;
- the RAM-cached folder dataset's pairs/s at 256×256 crops: training keys read in the main process,
  and through the DataLoader (with collation) with 0 and 2 workers. Target: ≥ 300 pairs/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lle.bench.machine import load_average, machine_info
from lle.bench.measure import build_module, time_calls, training_step
from lle.data.samplers import TrainingKey


def write_folder_tree(root: Path, n_train: int, n_test: int, size: tuple[int, int], seed: int = 0) -> Path:
    """our485/{low,high} and eval15/{low,high} of LOL-like pairs synthesised from skimage's photographs.

    Real photographic content (not noise) keeps the PNGs about as compressible, and so as slow to decode,
    as LOL's.
    """
    from skimage.transform import resize

    from lle.data.augment import dihedral
    from lle.data.synthetic import make_lol_pair, seed_images

    photos = [np.round(resize(p, size, anti_aliasing=True) * 255).astype(np.uint8) for p in seed_images().values()]
    rng = np.random.default_rng(seed)
    for split, count, offset in (("our485", n_train, 1), ("eval15", n_test, 500)):
        for folder in ("low", "high"):
            (root / split / folder).mkdir(parents=True, exist_ok=True)
        for i in range(offset, offset + count):
            photo = photos[i % len(photos)]
            # Flips keep the 400×600 shape; rotations by 90° would not.
            clean = np.ascontiguousarray(dihedral(photo, int(rng.choice([0, 2, 4, 6]))))
            low, high = make_lol_pair(clean, rng)
            Image.fromarray(low).save(root / split / "low" / f"{i}.png")
            Image.fromarray(high).save(root / split / "high" / f"{i}.png")
    return root


def loader_rate(datamodule, batches: int, skip: int) -> dict:
    """Batches/s over `batches` batches after the first `skip` (worker start-up), epochs chained."""
    loader = datamodule.train_dataloader()
    stamps, epoch = [], 0
    started = time.perf_counter()
    while len(stamps) < batches + skip + 1:
        loader.sampler.set_epoch(epoch)
        for _ in loader:
            stamps.append(time.perf_counter())
            if len(stamps) >= batches + skip + 1:
                break
        epoch += 1
    intervals = [b - a for a, b in zip(stamps[skip:], stamps[skip + 1 :])]
    rate = len(intervals) / (stamps[-1] - stamps[skip])
    return {
        "batches_per_s": rate,
        "pairs_per_s": rate * datamodule.batch_size,
        "median_batch_ms": statistics.median(intervals) * 1e3,
        "first_batch_s": stamps[0] - started,
    }


def dataset_rate(dataset, n: int) -> float:
    """Pairs/s of training keys read in this process: cropping, flipping and conversion only."""
    started = time.perf_counter()
    for i in range(n):
        dataset[TrainingKey(0, i, i % len(dataset))]
    return n / (time.perf_counter() - started)


def gladnet_rate(patch: int, batch: int, steps: int) -> dict:
    """Batches/s that a GLADNet training step consumes at `batch`×3×`patch`×`patch`."""
    torch.manual_seed(0)
    module = build_module("gladnet", 3)
    generator = torch.Generator().manual_seed(0)
    x, y = (
        torch.rand(batch, 3, patch, patch, generator=generator) * 0.2,
        torch.rand(batch, 3, patch, patch, generator=generator),
    )
    timing = time_calls(training_step(module, x, y, bf16=False), warmup=1, repeats=steps, budget_s=600)
    return {"batches_per_s": 1 / timing["median_s"], "step_s": timing["median_s"], "steps": timing["n"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--synthetic-crop", type=int, default=128, help="lle-train's default data.crop_size")
    parser.add_argument("--folder-crop", type=int, default=256, help="data=lol's crop_size")
    parser.add_argument("--image-size", type=int, nargs=2, default=(400, 600), metavar=("H", "W"))
    parser.add_argument("--pairs", type=int, default=64, help="training pairs in the folder tree")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per loader")
    parser.add_argument("--rounds", type=int, default=3, help="turns taken by the loaders")
    parser.add_argument("--train-steps", type=int, default=3, help="timed GLADNet steps")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="CI: 128×192 images, 64 crops, a few batches")
    parser.add_argument("--out", help="also write the JSON result to this file")
    args = parser.parse_args()
    if args.quick:
        args.synthetic_crop, args.folder_crop, args.image_size, args.pairs = 64, 64, (128, 192), 12
        args.batches, args.train_steps, args.rounds = 6, 1, 1
    torch.set_num_threads(args.threads)
    workers = [int(w) for w in args.workers.split(",")]
    skip = 2  # batches left out of each loader's rate: the first ones wait for worker start-up

    from lle.data.paired import PairedImageDataModule
    from lle.data.synthetic_lol import SyntheticLowLightDataModule

    machine = machine_info()
    result: dict = {
        "batch": args.batch,
        "synthetic_crop": args.synthetic_crop,
        "folder_crop": args.folder_crop,
        "image_size": list(args.image_size),
        "pairs": args.pairs,
        "loaders": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root = write_folder_tree(Path(tmp) / "LOL", args.pairs + 4, 2, tuple(args.image_size))
        result["tree_write_s"] = time.perf_counter() - started
        folder_layout = [
            dict(train_low="our485/low", train_high="our485/high", test_low="eval15/low", test_high="eval15/high")
        ]
        modules = {}
        for num_workers in workers:
            synthetic = SyntheticLowLightDataModule(
                crop_size=args.synthetic_crop,
                batch_size=args.batch,
                num_workers=num_workers,
                samples_per_epoch=args.batch * 16,
            )
            synthetic.setup("fit")
            folder = PairedImageDataModule(
                root=str(root),
                layouts=folder_layout,
                num_val=4,
                crop_size=args.folder_crop,
                batch_size=args.batch,
                num_workers=num_workers,
            )
            started = time.perf_counter()
            folder.setup("fit")
            result["folder_decode_pairs_per_s"] = (args.pairs + 4) / (time.perf_counter() - started)  # train + val
            modules[("synthetic", num_workers)], modules[("folder", num_workers)] = synthetic, folder
        # The loaders take turns for `--rounds` rounds and each keeps its median round: a burst of load from
        # another process then spoils one round, not the figure.
        rounds: dict = {key: [] for key in modules}
        for round_index in range(args.rounds):
            for (data, num_workers), module in modules.items():
                rounds[(data, num_workers)].append(loader_rate(module, args.batches, skip))
                entry = rounds[(data, num_workers)][-1]
                print(
                    f"  round {round_index + 1}: {data:9s} workers {num_workers}: {entry['batches_per_s']:8.2f} "
                    f"batches/s  {entry['pairs_per_s']:8.1f} pairs/s",
                    flush=True,
                )
        for (data, num_workers), measured in rounds.items():
            median = sorted(measured, key=lambda m: m["batches_per_s"])[(len(measured) - 1) // 2]
            crop = args.synthetic_crop if data == "synthetic" else args.folder_crop
            result["loaders"].append(
                {
                    "data": data,
                    "crop": crop,
                    "workers": num_workers,
                    **median,
                    "rounds_batches_per_s": [m["batches_per_s"] for m in measured],
                }
            )
        result["folder_dataset_pairs_per_s"] = statistics.median(
            dataset_rate(modules[("folder", workers[0])].train_set, 50 if args.quick else 500) for _ in range(3)
        )

    result["gladnet"] = {}
    for crop in sorted({args.synthetic_crop, args.folder_crop}):
        result["gladnet"][str(crop)] = gladnet_rate(crop, args.batch, args.train_steps)
        print(
            f"  GLADNet training at {crop}×{crop}, batch {args.batch}: "
            f"{result['gladnet'][str(crop)]['step_s']:.2f} s/step",
            flush=True,
        )
    for entry in result["loaders"]:
        entry["ratio_to_gladnet"] = entry["batches_per_s"] / result["gladnet"][str(entry["crop"])]["batches_per_s"]
    folder_pairs = [e["pairs_per_s"] for e in result["loaders"] if e["data"] == "folder"]
    result["targets"] = {
        "loader_at_least_5x_gladnet": all(e["ratio_to_gladnet"] >= 5 for e in result["loaders"]),
        "folder_pairs_per_s_at_least_300": max(folder_pairs + [result["folder_dataset_pairs_per_s"]]) >= 300,
    }

    print(
        f"\n{machine['cpu']}, {machine['cpu_cores']} cores, {args.threads} threads, torch {machine['torch']}, "
        f"load {machine['load_average']} → {load_average()}"
    )
    print(
        f"{'data':10s} {'crop':>5s} {'workers':>8s} {'batches/s':>10s} {'pairs/s':>9s} {'× GLADNet':>10s} {'1st batch s':>12s}"
    )
    for e in result["loaders"]:
        print(
            f"{e['data']:10s} {e['crop']:5d} {e['workers']:8d} {e['batches_per_s']:10.2f} {e['pairs_per_s']:9.1f} "
            f"{e['ratio_to_gladnet']:10.1f} {e['first_batch_s']:12.2f}"
        )
    print(
        f"folder dataset in-process: {result['folder_dataset_pairs_per_s']:.0f} pairs/s at {args.folder_crop}² crops; "
        f"decoding at setup: {result['folder_decode_pairs_per_s']:.1f} pairs/s"
    )
    summary = {"machine": {**machine, "load_average_end": load_average(), "threads": args.threads}, **result}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
