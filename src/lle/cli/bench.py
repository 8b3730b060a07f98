"""`lle-bench`: parameters, MACs, latency, throughput, peak memory and training-step time of every model.

    lle-bench                                        # all models, CPU (+ GPU when present), fp32 and bf16
    lle-bench --models gladnet,mirnet_v2 --sizes 256x256 --repeats 5 --out bench
    lle-bench --quick --models gladnet,gamma         # CI: tiny sizes, a few iterations

Every model is measured in a fresh subprocess, so that one model's memory peak never hides another's and
allocator caches do not carry over. Writes `bench.json`, `bench.csv`, `bench.md` (and `latency_vs_macs.png`
when matplotlib is installed) into `--out`.

Conventions (docs/benchmarks.md states them next to the figures):
- MACs at 1×C×256×256, C the network's input channels (`lle.models.complexity.count_macs`: FlopCounterMode's
  FLOPs / 2, transposed convs at their true cost), as in docs/specs/protocol.md.
- A size H×W names the *output* image. Networks that take packed RAW (ALEN: 4 channels, upscale 2) get
  the 4×(H/2)×(W/2) input that develops into it.
- Inference variants, batch 1: `plain` = fp32, NCHW, `torch.no_grad()`; `fast` = fp32, channels_last,
  `torch.inference_mode()` (what lle-enhance does unless the network prefers NCHW: MIRNet-v2);
  `fast_bf16` = `fast` under bf16 autocast. Latency is the median of the timed
  runs after warm-up; slow models get fewer runs (see `time_calls`), the count is recorded.
- Peak memory: on CPU the rise of the resident set (RSS high-water mark, reset before the timed runs)
  above the level before them, with weights and input already resident; on GPU `max_memory_allocated`
  above the allocated level before them.
- Training step: zero_grad, forward, the model's official loss, backward, its optimizer (and per-step
  scheduler) step, in fp32 or under bf16 autocast. Retinex-Net: its stage-1 (DecomNet) step.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

import lle.models
from lle.atomic import write_text_atomic
from lle.bench.machine import load_average, machine_info
from lle.bench.measure import (
    PeakMemory,
    build_module,
    make_input,
    measure_inference,
    recipe_patch_batch,
    synchronizer,
    time_calls,
    training_step,
)
from lle.bench.report import write_reports
from lle.cli import description
from lle.models.complexity import MACS_SIZE, count_macs
from lle.models.interface import network_input

DEFAULT_SIZES = "256x256,400x600"  # a square crop and LOL's full frame
CPU_TRAIN_PATCH, CPU_TRAIN_BATCH = 128, 4  # reduced from the recipes: MIRNet's recipe step takes minutes on a CPU


# --- one model, in its own process -------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    if not (height.isdigit() and width.isdigit() and int(height) > 0 and int(width) > 0):
        raise SystemExit(f"lle-bench: --sizes takes HxW pairs such as 256x256,400x600, got {text!r}")
    return int(height), int(width)


def size_label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _log(message: str) -> None:
    print(f"[lle-bench] {message}", file=sys.stderr, flush=True)


def measure_model(name: str, opts: dict, save: Callable[[dict], None] = lambda result: None) -> dict:
    """Every figure of one model: the worker process's whole job. `save` receives the result so far after
    every measurement, so a worker stopped by the timeout still reports what it measured."""
    torch.manual_seed(0)
    net = lle.models.build(name).eval()
    channels = network_input(net).channels
    params = sum(p.numel() for p in net.parameters())
    result: dict[str, Any] = {
        "model": name,
        "params": params,
        "input_channels": channels,
        "input_scale": network_input(net).upscale,
        "rows": [],
    }
    result["macs_256"] = count_macs(net, channels)
    _log(f"{name}: {params:,} params, {result['macs_256'] / 1e9:.2f} GMACs at 1x{channels}x{MACS_SIZE}x{MACS_SIZE}")
    recipe = recipe_patch_batch(name)
    result["recipe_patch_batch"] = recipe
    save(result)

    for device_name in opts["devices"]:
        device = torch.device(device_name)
        net.to(device)
        for size in map(parse_size, opts["sizes"]):
            label = size_label(size)
            if f"{name}@{label}" in opts["skip"]:
                result["rows"].append({"kind": "inference", "device": device_name, "size": label, "skipped": True})
                continue
            x = make_input(net, channels, *size, device=device)
            for variant in opts["variants"]:
                row = {"kind": "inference", "device": device_name, "size": label, "variant": variant, "batch": 1}
                try:
                    row.update(measure_inference(net, x, variant, opts["warmup"], opts["repeats"], opts["budget_s"]))
                    row["megapixels_per_s"] = size[0] * size[1] / 1e6 / row["median_s"]
                except Exception as err:  # noqa: BLE001 — e.g. an op without a channels_last or bf16 kernel: record it
                    row["error"] = f"{type(err).__name__}: {err}"[:300]
                result["rows"].append(row)
                save(result)
                _log(
                    f"{name} {device_name} {label} {variant}: "
                    + (f"{row['median_s'] * 1e3:.1f} ms (n={row['n']})" if "median_s" in row else row["error"])
                )
        if params and opts.get("train", True):
            for row in measure_training(name, channels, device, recipe, opts):
                result["rows"].append(row)
                save(result)
        net.to("cpu")
    return result


def measure_training(name: str, channels: int, device: torch.device, recipe, opts: dict) -> Iterator[dict]:
    if opts["train_patch"]:
        patch, batch = opts["train_patch"], opts["train_batch"]
    elif device.type == "cuda" and recipe:
        patch, batch = recipe
    else:
        patch, batch = CPU_TRAIN_PATCH, CPU_TRAIN_BATCH
    for precision in opts["precisions"]:
        row = {
            "kind": "train",
            "device": device.type,
            "size": f"{patch}x{patch}",
            "batch": batch,
            "variant": "train_bf16" if precision == "bf16" else "train_fp32",
            "step": "stage 1 (DecomNet)" if name == "retinexnet" else "full",
        }
        try:
            torch.manual_seed(0)
            module = build_module(name, channels).to(device)
            x = make_input(module.net, channels, patch, patch, batch=batch, device=device)
            y = torch.rand(batch, 3, patch, patch, generator=torch.Generator().manual_seed(1)).to(device)
            memory = PeakMemory(device)
            step = training_step(module, x, y, bf16=precision == "bf16")
            row.update(
                time_calls(
                    step,
                    opts["warmup"],
                    opts["train_repeats"],
                    opts["budget_s"],
                    synchronizer(device),
                    on_timed_start=memory.start,
                )
            )
            memory.stop()
            row.update(
                peak_mem_mib=memory.peak_mib,
                peak_total_mib=memory.peak_total_mib,
                megapixels_per_s=batch * patch * patch / 1e6 / row["median_s"],
            )
            del module, step
        except Exception as err:  # noqa: BLE001 — any failure is a figure of its own (e.g. out of memory)
            row["error"] = f"{type(err).__name__}: {err}"[:300]
        _log(
            f"{name} {device.type} train {patch}x{patch}x{batch} {precision}: "
            + (f"{row['median_s']:.2f} s/step (n={row['n']})" if "median_s" in row else row["error"])
        )
        yield row


def _worker(name: str, opts: dict, out: Path) -> None:
    torch.set_num_threads(opts["threads"])

    def save(result: dict) -> None:
        write_text_atomic(out, json.dumps(result))

    save(measure_model(name, opts, save))


# --- the parent: one subprocess per model, then the reports --------------------------------------------------


def run_model_subprocess(name: str, opts: dict, timeout_s: float | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "lle.cli.bench",
            "--_worker",
            name,
            "--_opts",
            json.dumps(opts),
            "--_result",
            str(out),
        ]
        started = time.time()
        try:
            error = None
            proc = subprocess.run(command, timeout=timeout_s, check=False)
            if proc.returncode != 0:
                error = f"worker exited with status {proc.returncode}"
        except subprocess.TimeoutExpired:
            error = f"timed out after {timeout_s:.0f} s"
        result = json.loads(out.read_text()) if out.is_file() else {"model": name, "rows": []}
        if error:
            result["error"] = error + (" (the figures measured before are kept)" if result["rows"] else "")
        result["wall_s"] = round(time.time() - started, 1)
        return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lle-bench", description=description(__doc__))
    parser.add_argument("--models", help="comma-separated names (default: all of lle.models.available())")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated HxW output sizes")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (at most)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up runs before timing (at least 1)")
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds of timed runs per measurement; slower models get fewer runs (at least 1)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda or cpu,cuda; auto: the CPU and the GPU if any")
    parser.add_argument("--dtype", default="fp32,bf16", help="fp32, bf16 (autocast) or both")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument(
        "--train-patch", type=int, help=f"training patch side (default: recipe on GPU, {CPU_TRAIN_PATCH} on CPU)"
    )
    parser.add_argument(
        "--train-batch", type=int, help=f"training batch (default: recipe on GPU, {CPU_TRAIN_BATCH} on CPU)"
    )
    parser.add_argument("--train-repeats", type=int, default=5, help="timed training steps (at most)")
    parser.add_argument("--no-train", action="store_true", help="inference only")
    parser.add_argument("--skip", default="", help="comma-separated model@HxW to leave out, e.g. mirnet@400x600")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per model before its worker is stopped")
    parser.add_argument("--out", default="bench", help="output directory")
    parser.add_argument("--quick", action="store_true", help="CI: 64x64, 2 runs, training at 32x32 batch 1")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    parser.add_argument("--_opts", help=argparse.SUPPRESS)
    parser.add_argument("--_result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def resolve_options(args: argparse.Namespace) -> dict:
    devices = ["cpu", "cuda"] if args.device == "auto" else args.device.split(",")
    if args.device == "auto" and not torch.cuda.is_available():
        devices = ["cpu"]
    if set(devices) - {"cpu", "cuda"}:
        raise SystemExit(f"lle-bench: --device takes cpu, cuda, cpu,cuda or auto, got {args.device!r}")
    if "cuda" in devices and not torch.cuda.is_available():
        raise SystemExit("lle-bench: --device cuda, but torch sees no GPU (torch.cuda.is_available() is False)")
    precisions = [p.strip() for p in args.dtype.split(",") if p.strip()]
    unknown = set(precisions) - {"fp32", "bf16"}
    if unknown or not precisions:
        raise SystemExit(f"lle-bench: --dtype takes fp32 and/or bf16, got {args.dtype!r}")
    variants = (["plain", "fast"] if "fp32" in precisions else []) + (["fast_bf16"] if "bf16" in precisions else [])
    opts = dict(
        devices=devices,
        sizes=args.sizes.split(","),
        repeats=args.repeats,
        warmup=args.warmup,
        budget_s=args.budget,
        threads=args.threads,
        precisions=precisions,
        variants=variants,
        train_patch=args.train_patch,
        train_batch=args.train_batch or (CPU_TRAIN_BATCH if args.train_patch else None),
        train_repeats=args.train_repeats,
        train=not args.no_train,
        skip=[s for s in args.skip.split(",") if s],
    )
    if args.quick:
        opts.update(sizes=["64x64"], repeats=2, warmup=1, budget_s=10.0, train_patch=32, train_batch=1, train_repeats=2)
    for size in opts["sizes"]:
        parse_size(size)
    return opts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args._worker:
        _worker(args._worker, json.loads(args._opts), Path(args._result))
        return
    names = args.models.split(",") if args.models else lle.models.available()
    unknown = [n for n in names if n not in lle.models.available()]
    if unknown:
        raise SystemExit(f"lle-bench: unknown models {unknown}; available: {', '.join(lle.models.available())}")
    opts = resolve_options(args)
    command = " ".join(["lle-bench", *(sys.argv[1:] if argv is None else argv)])
    machine = machine_info()
    machine["torch_threads"] = opts["threads"]
    results = []
    for name in names:
        started = time.time()
        results.append(run_model_subprocess(name, opts, args.timeout))
        _log(
            f"{name} done in {time.time() - started:.0f} s"
            + (f" — {results[-1]['error']}" if results[-1].get("error") else "")
        )
    machine["load_average_end"] = load_average()
    out = Path(args.out)
    write_reports(results, machine, opts, command, out)
    print(f"lle-bench: wrote {out / 'bench.json'}, {out / 'bench.csv'}, {out / 'bench.md'}")


if __name__ == "__main__":
    main()
