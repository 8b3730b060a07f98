"""`lle-report PATH [PATH ...] [--out DIR] [--bench bench.json]`: a leaderboard of finished runs, from what each run left behind.

PATH is a multirun directory (searched recursively), a run directory or a `metrics.json`. Writes to DIR
(default `<first PATH>/report`): `leaderboard.md`, `leaderboard.csv` (raw values, exactly as in each
`metrics.json`), `psnr_vs_macs.png`, `per_image_psnr.png` and `index.html` with the latest validation
image grid of every run. Rows are sorted by test PSNR; failed and unfinished runs are listed with their
error, never dropped.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lle.complexity import MACS_SIZE, count_macs
from lle.run_outputs import PROTOCOL

METRICS = ("test/psnr", "test/ssim", "test/psnr_gtmean", "test/ssim_gtmean", "val/psnr_best")
# (key in a leaderboard row, Markdown header, decimals; None: the value as it is)
MARKDOWN_COLUMNS = (
    ("model", "model", None), ("data", "data", None), ("run", "run", None), ("status", "status", None),
    ("protocol", "protocol", None), ("split", "train/val/test", None),
    ("test/psnr", "PSNR", 2), ("test/ssim", "SSIM", 4), ("test/psnr_gtmean", "PSNR GT-mean", 2),
    ("test/ssim_gtmean", "SSIM GT-mean", 4), ("val/psnr_best", "val PSNR", 2), ("params", "params", None),
    ("gmacs_256", "GMACs @256²", 3), ("train_time_s", "train time (s)", 1), ("checkpoint_best", "checkpoint", None),
    ("error", "error", None),
)


# --- finding runs ------------------------------------------------------------------------------------
def _is_hidden(path: Path, root: Path) -> bool:
    # .hydra (Hydra's copy of the config), .submitit (SLURM logs): never runs of their own.
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def find_runs(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """(run directory, label) for every run under `paths`: directories holding a `metrics.json`, and Hydra
    job directories (with `.hydra/`) that never wrote one because the job was killed or is still running."""
    found: dict[Path, str] = {}
    for given in paths:
        given = Path(given).resolve()
        if given.is_file():
            given = given.parent
        if not given.is_dir():
            raise FileNotFoundError(f"{given} does not exist")
        if (given / "metrics.json").is_file() or (given / ".hydra").is_dir():
            found.setdefault(given, given.name)
            continue
        markers = [*given.rglob("metrics.json"), *(p.parent for p in given.rglob(".hydra") if p.is_dir())]
        for marker in markers:
            run = marker.parent if marker.name == "metrics.json" else marker
            if not _is_hidden(run, given):
                found.setdefault(run, str(run.relative_to(given.parent)))
    return sorted(found.items(), key=lambda item: item[1])


# --- one row per run ---------------------------------------------------------------------------------
_macs_cache: dict[str, int | None] = {}


def config_macs(net_cfg: DictConfig, size: int = MACS_SIZE) -> int | None:
    """MACs of one forward pass at 1×C×size×size, C the network's input channels (FLOPs / 2, as counted by
    FlopCounterMode: convolutions, transposed convolutions and matrix products). Tried on the meta device
    first (shapes only: no memory, no time); networks with data-dependent steps run on the CPU."""
    key = OmegaConf.to_yaml(net_cfg)
    if key not in _macs_cache:
        channels = int(net_cfg.get("in_channels") or net_cfg.get("inp_channels") or 3)
        _macs_cache[key] = None
        for device in ("meta", "cpu"):
            try:
                with torch.device(device):
                    net = instantiate(net_cfg, _convert_="all").eval()
                _macs_cache[key] = count_macs(net, channels, size, device)
                break
            except Exception:  # noqa: BLE001 — any failure means "not computable here", try the next device
                continue
    return _macs_cache[key]


def _protocol_summary(metrics: dict[str, Any]) -> str:
    stated = {k: v for k, v in metrics.items() if k.startswith("protocol/")}
    if not stated:
        return "" if metrics.get("status") != "ok" else "not stated"
    differs = sorted(k.split("/", 1)[1] for k in set(PROTOCOL) | set(stated) if stated.get(k) != PROTOCOL.get(k))
    return "lle standard" if not differs else "differs: " + ", ".join(differs)


def _net_config(run_dir: Path) -> DictConfig | None:
    try:
        return OmegaConf.load(run_dir / "config.yaml").model.net
    except Exception:  # noqa: BLE001 — no config.yaml (killed early) or not a network config
        return None


def read_run(run_dir: Path, label: str) -> dict[str, Any]:
    """A leaderboard row: the run's metrics.json values (unchanged) plus complexity and file paths."""
    row: dict[str, Any] = {"run": label, "run_dir": str(run_dir)}
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except FileNotFoundError:
        metrics = {"status": "incomplete", "error": "no metrics.json: the job is still running or was killed "
                                                    "(see its .hydra/ and log files)"}
    except (OSError, ValueError) as err:
        metrics = {"status": "unreadable", "error": f"metrics.json: {type(err).__name__}: {err}"}
    split = metrics.get("split_sizes") or {}
    row.update({
        "status": metrics.get("status", "unknown"),
        "model": metrics.get("choice/model", ""), "data": metrics.get("choice/data", ""),
        "protocol": _protocol_summary(metrics),
        "split": "/".join(str(split.get(k, "?")) for k in ("train", "val", "test")) if split else "",
        **{k: metrics.get(k) for k in METRICS},
        "params": metrics.get("params"),
        **{k: v for k, v in metrics.items() if k.startswith("latency")},
        "train_time_s": metrics.get("train_time_s"),
        "checkpoint_best": metrics.get("checkpoint_best"),
        "error": (metrics.get("error") or "").strip(),
    })
    net_cfg = _net_config(run_dir)
    row["macs_256"] = config_macs(net_cfg) if net_cfg is not None else None
    row["gmacs_256"] = row["macs_256"] / 1e9 if row["macs_256"] is not None else None
    grids = sorted((run_dir / "images" / "val").glob("epoch_*.png"))
    row["val_grid"] = str(grids[-1]) if grids else None
    per_image = run_dir / "per_image.csv"
    row["per_image_csv"] = str(per_image) if per_image.is_file() else None
    return row


def _psnr_key(row: dict[str, Any]) -> float:
    value = row.get("test/psnr")
    return value if isinstance(value, (int, float)) and not math.isnan(value) else -math.inf


def bench_latencies(bench_json: str | Path) -> dict[str, dict[str, float]]:
    """{model: {"latency_ms/<device>/<size>": median ms}} from an `lle-bench` bench.json: the `fast` fp32
    variant at batch 1, which is how lle-eval and lle-enhance run a network."""
    path = Path(bench_json)
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FileNotFoundError(f"--bench {path}: not an lle-bench bench.json ({type(err).__name__}: {err})") from err
    figures: dict[str, dict[str, float]] = {}
    for result in results:
        for r in result.get("rows", []):
            if r.get("kind") == "inference" and r.get("variant") == "fast" and "median_s" in r:
                figures.setdefault(result["model"], {})[f"latency_ms/{r['device']}/{r['size']}"] = r["median_s"] * 1e3
    return figures


def leaderboard(paths: Iterable[str | Path], bench_json: str | Path | None = None) -> list[dict[str, Any]]:
    rows = [read_run(run_dir, label) for run_dir, label in find_runs(paths)]
    if bench_json is not None:  # speed measured once per model by lle-bench, joined on the model name
        latencies = bench_latencies(bench_json)
        for row in rows:
            row.update(latencies.get(row["model"], {}))
    rows.sort(key=lambda r: (-_psnr_key(r), r["run"]))  # stable order among runs without a test PSNR
    # Plots name a run by its model, and by model and run where several finished runs share a model (seeds).
    finished = [r["model"] for r in rows if r["status"] == "ok"]
    for r in rows:
        r["label"] = f"{r['model']} ({r['run']})" if finished.count(r["model"]) > 1 or not r["model"] else r["model"]
    return rows


# --- writers -----------------------------------------------------------------------------------------
def csv_columns(rows: list[dict[str, Any]]) -> list[str]:
    latency = sorted({k for r in rows for k in r if k.startswith("latency")})
    return ["run", "status", "model", "data", "protocol", "split", *METRICS, "params", "macs_256", *latency,
            "train_time_s", "checkpoint_best", "error", "run_dir"]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = csv_columns(rows)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        # Floats are written with repr(): the CSV holds the metrics.json values exactly.
        writer.writerows({k: ("" if r.get(k) is None else r.get(k)) for k in columns} for r in rows)


def _cell(value: Any, decimals: int | None) -> str:
    if value is None or value == "":
        return ""
    if decimals is not None and isinstance(value, (int, float)):
        return "nan" if math.isnan(value) else f"{value:.{decimals}f}"
    text = str(value).splitlines()[0] if str(value) else ""
    return text.replace("|", "\\|")


def _markdown_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    latency = sorted({k for r in rows for k in r if k.startswith("latency")})
    columns = list(MARKDOWN_COLUMNS)
    at = [c[0] for c in columns].index("train_time_s")
    return columns[:at] + [(k, k, None) for k in latency] + columns[at:]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    columns = _markdown_columns(rows)
    lines = ["| # | " + " | ".join(header for _, header, _ in columns) + " |",
             "|---:|" + "|".join("---:" if d is not None else "---" for _, _, d in columns) + "|"]
    for rank, row in enumerate(rows, 1):
        lines.append(f"| {rank} | " + " | ".join(_cell(row.get(k), d) for k, _, d in columns) + " |")
    return "\n".join(lines)


def _notes() -> str:
    protocol = "\n".join(f"- {k.split('/', 1)[1]}: {v}" for k, v in PROTOCOL.items())
    return (f"Sorted by test PSNR; runs without one (failed, incomplete) come last with their error.\n"
            f"GMACs: one forward pass at 1×C×{MACS_SIZE}×{MACS_SIZE}, FLOPs/2 from torch's FlopCounterMode "
            "(convolutions and matrix products only: classical methods' pixel operations are not counted).\n\n"
            f"\"lle standard\" protocol:\n{protocol}\n")


def write_markdown(rows: list[dict[str, Any]], path: Path) -> None:
    path.write_text(f"# Leaderboard\n\n{markdown_table(rows)}\n\n{_notes()}")


def _figure(width: float = 7.0, height: float = 4.5):
    # The object-oriented API with the Agg canvas: no pyplot state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_psnr_vs_macs(rows: list[dict[str, Any]], path: Path) -> None:
    points = [r for r in rows if r["gmacs_256"] is not None and _psnr_key(r) > -math.inf]
    fig, ax = _figure()
    if points:
        largest = max((r["params"] or 0) for r in points) or 1
        sizes = [30 + 600 * math.sqrt((r["params"] or 0) / largest) for r in points]
        ax.scatter([r["gmacs_256"] for r in points], [r["test/psnr"] for r in points], s=sizes, alpha=0.6)
        for r in points:
            ax.annotate(r["label"], (r["gmacs_256"], r["test/psnr"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        positive = [r["gmacs_256"] for r in points if r["gmacs_256"] > 0]
        # symlog: classical methods sit at 0 MACs, networks span several decades.
        ax.set_xscale("symlog", linthresh=min(positive) if positive else 1e-3)
        ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    else:
        ax.text(0.5, 0.5, "no finished run with a test PSNR", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"GMACs at {MACS_SIZE}×{MACS_SIZE}")
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title("PSNR vs compute (marker area grows with the parameter count)")
    ax.grid(True, alpha=0.3)
    fig.savefig(path, dpi=120)


def _per_image_psnr(row: dict[str, Any]) -> list[float]:
    if not row["per_image_csv"]:
        return []
    with open(row["per_image_csv"], newline="") as f:
        return [float(r["psnr"]) for r in csv.DictReader(f) if r.get("psnr") not in (None, "")]


def plot_per_image_psnr(rows: list[dict[str, Any]], path: Path) -> None:
    series = [(r["label"], values) for r in rows if (values := _per_image_psnr(r))]
    fig, ax = _figure(max(6.0, 0.9 * len(series) + 2), 4.5)
    if series:
        ax.boxplot([values for _, values in series])
        ax.set_xticks(range(1, len(series) + 1), [label for label, _ in series], rotation=30, ha="right")
    else:
        ax.text(0.5, 0.5, "no per_image.csv found", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("per-image test PSNR (dB)")
    ax.set_title("Per-image PSNR on the test split")
    ax.grid(True, axis="y", alpha=0.3)
    fig.savefig(path, dpi=120)


def write_html(rows: list[dict[str, Any]], out: Path) -> None:
    """index.html next to the plots; each run's latest validation grid is copied in, so the folder can be
    moved or shared on its own."""
    grids_dir = out / "grids"
    grids_dir.mkdir(exist_ok=True)
    columns = _markdown_columns(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = []
    for rank, row in enumerate(rows, 1):
        cells = "".join(f"<td>{html.escape(_cell(row.get(k), d).replace(chr(92) + '|', '|'))}</td>"
                        for k, _, d in columns)
        css = "" if row["status"] == "ok" else ' class="failed"'
        body.append(f"<tr{css}><td>{rank}</td>{cells}</tr>")
    sections = []
    for rank, row in enumerate(rows, 1):
        if not row["val_grid"]:
            continue
        name = f"{rank:03d}_{row['run'].replace(os.sep, '_')}.png"
        shutil.copyfile(row["val_grid"], grids_dir / name)
        caption = f"{row['label']}: {Path(row['val_grid']).stem} (input | output | target)"
        sections.append(f"<figure><img src=\"grids/{html.escape(name)}\" alt=\"{html.escape(caption)}\">"
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    notes = html.escape(_notes()).replace("\n", "<br>\n")
    out.joinpath("index.html").write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>lle leaderboard</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px}} tr.failed{{background:#fde8e8}}
figure{{display:inline-block;margin:0.5em}} img{{max-width:100%;image-rendering:pixelated}}</style></head>
<body><h1>Leaderboard</h1>
<table><thead><tr><th>#</th>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<p>{notes}</p>
<h2>Plots</h2>
<img src="psnr_vs_macs.png" alt="test PSNR vs GMACs"> <img src="per_image_psnr.png" alt="per-image PSNR">
<h2>Latest validation images</h2>
{chr(10).join(sections) or "<p>no validation images found</p>"}
</body></html>
""")


def write_report(paths: Iterable[str | Path], out: Path, bench_json: str | Path | None = None) -> list[dict[str, Any]]:
    rows = leaderboard(paths, bench_json)
    if not rows:
        raise FileNotFoundError(f"no runs (metrics.json) under {', '.join(map(str, paths))}")
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "leaderboard.csv")
    write_markdown(rows, out / "leaderboard.md")
    plot_psnr_vs_macs(rows, out / "psnr_vs_macs.png")
    plot_per_image_psnr(rows, out / "per_image_psnr.png")
    write_html(rows, out)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lle-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="multirun directories, run directories or metrics.json")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <first PATH>/report)")
    parser.add_argument("--bench", type=Path, default=None,
                        help="an lle-bench bench.json: adds each model's latency (ms, batch 1) as latency_ms/<device>/<size>")
    args = parser.parse_args(argv)
    first = args.paths[0] if args.paths[0].is_dir() else args.paths[0].parent
    out = args.out or first / "report"
    try:
        rows = write_report(args.paths, out, args.bench)
    except FileNotFoundError as err:
        print(f"lle-report: {err}", file=sys.stderr)
        return 2
    print(markdown_table(rows))
    failed = sum(r["status"] != "ok" for r in rows)
    print(f"\n{len(rows)} runs ({failed} not ok); report in {out}: index.html, leaderboard.md, leaderboard.csv, "
          "psnr_vs_macs.png, per_image_psnr.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
