"""Which inference defaults pay off, per model: plain fp32 NCHW against channels_last + inference_mode,
bf16 autocast and torch.compile.

    python benchmarks/inference_defaults.py                       # every model at 256×256 (docs/benchmarks.md)
    python benchmarks/inference_defaults.py --models gladnet --size 400 600 --no-compile
    python benchmarks/inference_defaults.py --quick               # CI: two models at 64×64, no compile

Variants, batch 1 (the speed-up is plain / variant):
- `plain`: fp32, NCHW, `torch.no_grad()` — what a user writes first;
- `channels_last`: fp32, channels_last weights and input, `torch.inference_mode()`;
- `bf16`: `channels_last` under bf16 autocast (outputs differ: max |Δ| to `plain` / max |plain| is printed;
  the weights are untrained, so this only shows the order of the rounding);
- `compile`: `torch.compile(net)` (default mode) with the `channels_last` settings; the compile time
  (first call) is reported apart.

Each model runs in its own subprocess. The variants take turns within a round (`--repeats` rounds, after
one warm-up call each), so a change in machine load hits all of them. A model whose compile exceeds
`--compile-timeout` seconds keeps its eager figures and is reported as such.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

EAGER = ("plain", "channels_last", "bf16")


def measure(name: str, size: tuple[int, int], repeats: int, budget_s: float, compile_net: bool, out: Path) -> None:
    import lle.models
    from lle.bench.measure import inference_context, make_input, prepare_inference
    from lle.models.complexity import count_macs
    from lle.models.interface import network_input

    torch.manual_seed(0)
    net = lle.models.build(name).eval()
    channels = network_input(net).channels
    x = make_input(net, channels, *size)
    result = {
        "model": name,
        "size": list(size),
        "params": sum(p.numel() for p in net.parameters()),
        "gmacs_256": count_macs(net, channels) / 1e9,
        "variants": {},
    }

    def save() -> None:  # after every step, so that a compile stopped by the timeout loses nothing else
        out.write_text(json.dumps(result))

    runners, reference = {}, None
    for variant in (*EAGER, *(("compile",) if compile_net else ())):
        mode = "plain" if variant == "plain" else ("fast_bf16" if variant == "bf16" else "fast")
        model = net if variant == "plain" else copy.deepcopy(net)  # .to(memory_format) converts in place
        model, inp = prepare_inference(model, x, mode)
        if variant == "compile":
            model = torch.compile(model)

        def run(model=model, inp=inp, mode=mode):
            with inference_context(mode, inp.device):
                return model(inp)

        try:
            started = time.perf_counter()
            output = run().float()  # the warm-up call; for `compile`, the compilation
            first = time.perf_counter() - started
        except Exception as err:
            result["variants"][variant] = {"error": f"{type(err).__name__}: {err}"[:300]}
            save()
            continue
        reference = output if variant == "plain" else reference
        result["variants"][variant] = {
            "first_call_s": first,
            "times": [],
            "max_rel_diff": float((output - reference).abs().max() / reference.abs().max().clamp_min(1e-12)),
        }
        runners[variant] = run
        save()
        print(f"  {name} {variant}: first call {first:.2f} s", file=sys.stderr, flush=True)

    # Rounds: one timed call of every variant per round; as many rounds as fit in the budget.
    slowest = max(v.get("first_call_s", 0) for k, v in result["variants"].items() if k != "compile")
    rounds = max(1, min(repeats, int(budget_s // max(slowest * len(runners), 1e-9))))
    for _ in range(rounds):
        for variant, run in runners.items():
            started = time.perf_counter()
            run()
            result["variants"][variant]["times"].append(time.perf_counter() - started)
        save()
    for variant, entry in result["variants"].items():
        if entry.get("times"):
            entry["median_s"] = statistics.median(entry["times"])
    plain = result["variants"].get("plain", {}).get("median_s")
    for entry in result["variants"].values():
        if plain and entry.get("median_s"):
            entry["speedup"] = plain / entry["median_s"]
    save()


def run_model(name: str, args, compile_net: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            __file__,
            "--_worker",
            name,
            "--size",
            *map(str, args.size),
            "--repeats",
            str(args.repeats),
            "--budget",
            str(args.budget),
            "--threads",
            str(args.threads),
            "--_result",
            str(out),
        ]
        if not compile_net:
            command.append("--no-compile")
        timeout = args.compile_timeout + 20 * args.budget if compile_net else None
        try:
            subprocess.run(command, timeout=timeout, check=False)
            status = None
        except subprocess.TimeoutExpired:
            status = f"stopped after {timeout:.0f} s (compile too slow on this machine)"
        result = json.loads(out.read_text()) if out.is_file() else {"model": name, "variants": {}}
        if status:
            result["variants"].setdefault("compile", {})["error"] = status
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated (default: every model)")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"), help="output size")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (at most; see --budget)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of timed rounds per model")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--compile-timeout", type=float, default=600.0, help="seconds allowed for torch.compile")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="CI: gladnet and gamma at 64×64, 2 rounds, no compile")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    parser.add_argument("--_result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args._worker:
        measure(args._worker, tuple(args.size), args.repeats, args.budget, not args.no_compile, Path(args._result))
        return
    if args.quick:
        args.models, args.size, args.repeats, args.no_compile = args.models or "gladnet,gamma", (64, 64), 2, True

    import lle.models
    from lle.bench.machine import load_average, machine_info

    machine = machine_info()
    names = args.models.split(",") if args.models else lle.models.available()
    results = []
    for name in names:
        started = time.time()
        results.append(run_model(name, args, compile_net=not args.no_compile))
        print(f"  {name} done in {time.time() - started:.0f} s", file=sys.stderr, flush=True)

    columns = (*EAGER, "compile")
    print(
        f"\n{machine['cpu']}, {args.threads} threads, torch {machine['torch']}, {args.size[0]}×{args.size[1]}, "
        f"load {machine['load_average']} → {load_average()}"
    )
    print(
        f"{'model':11s} {'plain ms':>10s} "
        + " ".join(f"{c + ' ms':>17s} {'×':>5s}" for c in columns[1:])
        + f" {'compile s':>10s} {'bf16 rel. Δ':>12s}"
    )
    for r in results:
        v = r["variants"]
        cells = [f"{r['model']:11s}", f"{v.get('plain', {}).get('median_s', float('nan')) * 1e3:10.1f}"]
        for c in columns[1:]:
            entry = v.get(c, {})
            cells.append(
                f"{entry['median_s'] * 1e3:17.1f} {entry['speedup']:5.2f}"
                if entry.get("median_s") and entry.get("speedup")
                else f"{'error' if entry.get('error') else '–':>17s} {'':5s}"
            )
        cells.append(f"{v.get('compile', {}).get('first_call_s', float('nan')):10.1f}")
        cells.append(f"{v.get('bf16', {}).get('max_rel_diff', float('nan')):12.4f}")
        print(" ".join(cells))
    summary = {
        "machine": {**machine, "load_average_end": load_average(), "threads": args.threads},
        "size": list(args.size),
        "results": results,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
