"""Wall time of `<command> --help` for each console script: how long a command takes to start.

    python benchmarks/startup.py                                 # every command, median of 5, this source tree
    python benchmarks/startup.py --src /other/checkout/src       # another tree (e.g. before a change), same way
    python benchmarks/startup.py --commands lle-train lle-enhance --repeats 10

Each run is a fresh process (`python -c "from lle.cli.<module> import main; main()" --help`) with PYTHONPATH
set to `--src`, so two trees are compared with the same interpreter and packages. The load average is printed
beside the figures: on a shared machine the times grow with it (importing torch and Lightning reads and
compiles thousands of files). Alternate trees within one session when comparing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "lle-train": "train",
    "lle-eval": "eval",
    "lle-enhance": "enhance",
    "lle-report": "report",
    "lle-export": "export",
    "lle-bench": "bench",
}


def time_help(module: str, src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = f"import sys; sys.argv[0] = 'lle-{module}'; from lle.cli.{module} import main; main()"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, "--help"], env=env, capture_output=True, check=True, timeout=600)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, nargs="+", default=[Path(__file__).resolve().parents[1] / "src"])
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    times: dict[tuple[str, Path], list[float]] = {}
    for _ in range(args.repeats):  # trees and commands interleaved, so that they share the machine's load
        for command in args.commands:
            for src in args.src:
                times.setdefault((command, src), []).append(time_help(COMMANDS[command], src))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("| command | source | median s | min s | max s |\n|---|---|---:|---:|---:|")
    for (command, src), values in times.items():
        print(
            f"| `{command} --help` | {src} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"
        )


if __name__ == "__main__":
    main()
