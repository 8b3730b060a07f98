"""Compare at scale: real sweeps over trained networks and classical baselines, then `lle-report` on them."""

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

import lle.models
from conftest import SMALL_GLADNET, TINY_RUN, TINY_SYNTHETIC
from test_cli import run_cli

NETWORKS = ("gladnet", "retinexnet", "absgn")
CLASSICAL = ("gamma", "he", "dong2011")
MODELS = (*NETWORKS, *CLASSICAL)
# Run directories relative to <root>/sweeps: one multirun over every model, one over GLADNet's learning rate.
RUNS = [*(f"models/{i}_{m}" for i, m in enumerate(MODELS)), "lr/0_gladnet", "lr/1_gladnet"]
FAILED = "lr/1_gladnet"
BAD_LR = re.compile(r"(lr|learning rate)\W+-1")  # rejected by lle's config check or by Adam


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> Path:
    """Two sweeps into one parent, then the report over both.

    The first is one multirun over three networks at their published widths (the tiny crops keep them fast)
    and three baselines. The second sweeps a reduced GLADNet's learning rate (widths are overrides only GLADNet
    accepts) and has a job with a negative learning rate, which Adam rejects: it must fail alone."""
    root = tmp_path_factory.mktemp("compare")
    train = [sys.executable, "-m", "lle.cli.train", "-m", *TINY_RUN, *TINY_SYNTHETIC]
    # Two epochs: Retinex-Net's first trains only DecomNet, which gives no validation PSNR to select on.
    run_cli(
        [*train, f"model={','.join(MODELS)}", "trainer.max_epochs=2", f"hydra.sweep.dir={root / 'sweeps' / 'models'}"],
        cwd=root,
    )
    run_cli(
        [
            *train,
            "model=gladnet",
            *SMALL_GLADNET,
            "model.optimizer.lr=1e-3,-1",
            f"hydra.sweep.dir={root / 'sweeps' / 'lr'}",
        ],
        cwd=root,
    )
    exe = shutil.which("lle-report") or str(Path(sys.executable).with_name("lle-report"))
    run_cli([exe, str(root / "sweeps"), "--out", str(root / "report")], cwd=root)
    return root


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def leaderboard(root: Path) -> list[dict]:
    with open(root / "report" / "leaderboard.csv", newline="") as f:
        return list(csv.DictReader(f))


def rows_by_run(root: Path) -> dict[str, dict]:
    return {Path(r["run_dir"]).relative_to(root / "sweeps").as_posix(): r for r in leaderboard(root)}


def test_every_job_ran_and_only_the_bad_one_failed(comparison):
    runs = {
        p.parent.relative_to(comparison / "sweeps").as_posix(): metrics_of(p.parent)
        for p in (comparison / "sweeps").rglob("metrics.json")
    }
    assert sorted(runs) == sorted(RUNS)
    assert {k: m["status"] for k, m in runs.items()} == {k: "failed" if k == FAILED else "ok" for k in runs}
    assert BAD_LR.search(runs[FAILED]["error"])
    for i, name in enumerate(MODELS):
        run = runs[f"models/{i}_{name}"]
        assert run["choice/model"] == name
        if name in CLASSICAL:  # classical methods are evaluated, not trained: no checkpoint
            assert run["params"] == 0 and run["checkpoint_best"] is None
        else:
            assert run["params"] > 0 and Path(run["checkpoint_best"]).is_file()


def test_leaderboard_rows_are_the_runs_metrics(comparison):
    rows = leaderboard(comparison)
    assert sorted(rows_by_run(comparison)) == sorted(RUNS)  # one row per run, every model present
    assert {r["model"] for r in rows if r["status"] == "ok"} == set(MODELS)
    for row in rows:
        metrics = metrics_of(Path(row["run_dir"]))
        assert row["status"] == metrics["status"]
        assert row["model"] == metrics["choice/model"] and row["data"] == metrics["choice/data"] == "synthetic"
        for key in (
            "test/psnr",
            "test/ssim",
            "test/psnr_gtmean",
            "test/ssim_gtmean",
            "val/psnr_best",
            "params",
            "train_time_s",
        ):
            assert (float(row[key]) if row[key] else None) == metrics.get(key), key  # exactly, not rounded
        assert row["checkpoint_best"] == (metrics.get("checkpoint_best") or "")
        assert row["error"] == metrics.get("error", "")
        if row["model"] in CLASSICAL:  # nothing trained: no training time in the record or the table
            assert metrics["train_time_s"] is None and row["train_time_s"] == ""
        if metrics["status"] == "ok":
            assert row["protocol"] == "lle standard" and row["split"] == "4/2/2"
            assert all(math.isfinite(float(row[k])) for k in ("test/psnr", "test/ssim", "val/psnr_best"))
    # Sorted by test PSNR, the failed run last with its error.
    psnr = [float(r["test/psnr"]) for r in rows[:-1]]
    assert psnr == sorted(psnr, reverse=True)
    assert rows[-1]["status"] == "failed" and BAD_LR.search(rows[-1]["error"])

    markdown = (comparison / "report" / "leaderboard.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(table) == len(RUNS)
    for line, row in zip(table, rows):
        assert row["run"] in line and f"| {row['model']} |" in line
        if row["status"] == "ok":
            assert f"| {float(row['test/psnr']):.2f} | {float(row['test/ssim']):.4f} |" in line
        else:
            assert BAD_LR.search(line)


def test_macs_are_counted_on_the_runs_network(comparison):
    rows = rows_by_run(comparison)
    for run, widths in (("lr/0_gladnet", {"global_channels": 8, "detail_channels": 8}), ("models/0_gladnet", {})):
        net = lle.models.build("gladnet", **widths).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.rand(1, 3, 256, 256))  # a real forward pass; the report counts on the meta device
        assert int(rows[run]["macs_256"]) == counter.get_total_flops() // 2 > 0, run
        assert int(rows[run]["params"]) == sum(p.numel() for p in net.parameters())
    for i, name in enumerate(NETWORKS):
        assert int(rows[f"models/{i}_{name}"]["macs_256"]) > 0, name
    for run in ("models/3_gamma", "models/4_he"):  # pixel operations: no convolution or matrix product to count
        assert rows[run]["macs_256"] == "0"


def test_plots_and_page(comparison):
    report = comparison / "report"
    for name in ("psnr_vs_macs.png", "per_image_psnr.png"):
        with Image.open(report / name) as image:
            assert image.format == "PNG" and min(image.size) > 200
            extrema = image.convert("L").getextrema()
        assert extrema[0] < extrema[1]  # something is drawn
    page = (report / "index.html").read_text()
    for row in leaderboard(comparison):
        assert row["run"] in page
    grids = sorted((report / "grids").glob("*.png"))
    assert len(grids) == len(RUNS) - 1  # one per finished run: the failed job never validated
    for grid in grids:
        assert f'src="grids/{grid.name}"' in page and grid.stat().st_size > 0
    for path in comparison.glob("sweeps/*/*/per_image.csv"):  # what the box plot shows
        with open(path, newline="") as f:
            assert [not math.isnan(float(r["psnr"])) for r in csv.DictReader(f)] == [True, True]


def test_report_of_a_single_run_directory(comparison, tmp_path):
    from lle.report import main

    run = comparison / "sweeps" / "models" / "3_gamma"
    assert main([str(run), "--out", str(tmp_path / "one")]) == 0
    with open(tmp_path / "one" / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == ["3_gamma"] and float(rows[0]["test/psnr"]) == metrics_of(run)["test/psnr"]
    assert not (tmp_path / "one" / "psnr_vs_macs.png").exists()  # classical methods alone: 0 MACs, no figure
    assert main([str(tmp_path / "nothing_here")]) == 2


def test_report_lists_unfinished_runs_and_optional_columns(tmp_path):
    from lle.report import main

    sweep = tmp_path / "sweep"
    timed = sweep / "0_external"  # a run from elsewhere: latency measured, no config.yaml to count MACs from
    timed.mkdir(parents=True)
    (timed / "metrics.json").write_text(
        json.dumps({"status": "ok", "choice/model": "external", "test/psnr": 20.5, "latency_ms_256": 12.25})
    )
    killed = sweep / "1_gladnet"  # the job was killed before it could write metrics.json
    (killed / ".hydra").mkdir(parents=True)
    truncated = sweep / "2_he"
    truncated.mkdir()
    (truncated / "metrics.json").write_text('{"status": "o')
    foreign = sweep / "3_lime"  # valid JSON, but not a run record
    foreign.mkdir()
    (foreign / "metrics.json").write_text("[1, 2]")

    with pytest.warns(UserWarning, match="holds a list, not an lle run record"):
        assert main([str(sweep)]) == 0
    with open(sweep / "report" / "leaderboard.csv", newline="") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert rows["sweep/0_external"]["latency_ms_256"] == "12.25" and rows["sweep/0_external"]["macs_256"] == ""
    assert rows["sweep/1_gladnet"]["status"] == "incomplete" and "no metrics.json" in rows["sweep/1_gladnet"]["error"]
    assert rows["sweep/2_he"]["status"] == "unreadable" and "JSONDecodeError" in rows["sweep/2_he"]["error"]
    assert rows["sweep/3_lime"]["status"] == "unreadable" and "holds a list" in rows["sweep/3_lime"]["error"]
    assert "latency_ms_256" in (sweep / "report" / "leaderboard.md").read_text()


def test_matplotlibs_font_cache_notice_is_not_shown(tmp_path):
    # matplotlib logs it on a first import whose font-cache build takes over 5 s (a fresh, slow machine).
    code = (
        "import logging; from lle.report.plots import agg_figure; agg_figure(); "
        "logging.getLogger('matplotlib.font_manager').warning('Matplotlib is building the font cache')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "MPLCONFIGDIR": str(tmp_path)}
    )
    assert done.returncode == 0, done.stderr
    assert "font cache" not in done.stderr
