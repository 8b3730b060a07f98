"""`lle-report PATH [PATH ...] [--out DIR] [--bench bench.json]`: a leaderboard of finished runs, from what each
run left behind.

PATH is a multirun directory (searched recursively), a run directory or a `metrics.json`. Writes to DIR
(default `<first PATH>/report`): `leaderboard.md`, `leaderboard.csv` (raw values, exactly as in each
`metrics.json`), `index.html` with the latest validation image grid of every run, and the figures
`psnr_vs_macs.png` and `per_image_psnr.png` where there is something to draw and matplotlib (the `report`
extra) to draw it. Rows are sorted by test PSNR; failed and unfinished runs are listed with their error, never
dropped; the baselines the runs scored beside themselves (the input, the classical methods) are rows of their
own, listed once per data, protocol and scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lle.cli import description
from lle.runs.guard import unusable_directory
from lle.runs.results import OK


def main(argv: list[str] | None = None) -> int:
    """0 with the report written, 2 when a PATH or the --bench file is missing (named, not a traceback)."""
    parser = argparse.ArgumentParser(prog="lle-report", description=description(__doc__))
    parser.add_argument("paths", nargs="+", type=Path, help="multirun directories, run directories or metrics.json")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <first PATH>/report)")
    parser.add_argument(
        "--bench",
        type=Path,
        default=None,
        help="an lle-bench bench.json: adds each model's latency (ms, batch 1) as latency_ms/<device>/<size>",
    )
    args = parser.parse_args(argv)
    # Imported after the arguments are read (the report reads configs and counts MACs with torch and Hydra), so
    # that `lle-report --help` is instant.
    from lle.report import markdown_table, write_report
    from lle.report.collect import RUN

    first = args.paths[0] if args.paths[0].is_dir() else args.paths[0].parent
    out = args.out or first / "report"
    unusable = unusable_directory(out.absolute())
    if unusable:
        print(f"lle-report: error: --out {out}: {unusable}; choose another --out", file=sys.stderr)
        return 2
    try:
        report = write_report(args.paths, out, args.bench)
    except FileNotFoundError as err:
        print(f"lle-report: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only folder, a full disk: the report cannot be written there
        print(f"lle-report: error: cannot write the report to {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(markdown_table(report.rows))
    runs = [r for r in report.rows if r["kind"] == RUN]
    failed = sum(r["status"] != OK for r in runs)
    baselines = len(report.rows) - len(runs)
    print(
        f"\n{len(runs)} runs ({failed} not ok), {baselines} baseline rows; report in {out}: {', '.join(report.files)}"
    )
    for note in report.notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
