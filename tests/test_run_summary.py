"""What a run ends with, on real (tiny) runs: the input's and each classical method's scores on its own test split
(console, metrics.json, lle-report), and a report that a core install (no matplotlib) can write."""

import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SMALL_GLADNET, compose_config
from lle.cli.eval import evaluate
from lle.cli.train import train
from lle.config import UsageError
from lle.metrics import keys
from lle.report import leaderboard, markdown_table, write_report
from lle.report.build import NO_MATPLOTLIB
from lle.runs.baselines import classical_methods

TINY_EVAL = [
    "trainer=cpu",
    "data=synthetic",
    "data.num_test=2",
    "data.eval_crop_size=48",
    "data.eval_batch_size=2",
    "trainer.limit_test_batches=2",
]


def test_classical_methods_are_read_from_the_model_configs():
    assert classical_methods() == ["clahe", "dong2011", "gamma", "he", "lime"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny GLADNet run with the default `baselines: true`, its console log and its directory."""
    from conftest import TINY_RUN, TINY_SYNTHETIC

    root = tmp_path_factory.mktemp("baselines")
    overrides = [o for o in TINY_RUN if not o.startswith("baselines=")]
    cfg = compose_config("train", [*overrides, *TINY_SYNTHETIC, *SMALL_GLADNET, f"paths.log_dir={root}"], root / "run")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    lle_log = logging.getLogger("lle")
    level, lle_log.level = lle_log.level, logging.INFO
    lle_log.addHandler(handler)
    try:
        train(cfg)
    finally:
        lle_log.removeHandler(handler)
        lle_log.setLevel(level)
    return root, "\n".join(r.getMessage() for r in records)


def test_metrics_json_holds_every_baseline(trained):
    root, _ = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    for method in (keys.INPUT, *classical_methods()):
        for name in keys.IMAGE_METRICS:
            value = metrics[keys.baseline_key(method, keys.key(keys.TEST, name))]
            assert math.isfinite(value), (method, name)
    assert metrics["baseline/input/test/psnr"] != metrics["baseline/gamma/test/psnr"]


def test_the_console_summary_ranks_the_run_among_the_baselines(trained):
    root, console = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    table = console[console.index("test split (2 images)") :].splitlines()
    rows = {line.split()[0]: line for line in table[2:9]}
    assert set(rows) == {"gladnet", keys.INPUT, *classical_methods()}
    assert rows["gladnet"].endswith("◀ this run") and "◀" not in "".join(v for k, v in rows.items() if k != "gladnet")
    assert rows["dong2011"].split()[1:3] == [
        f"{metrics['baseline/dong2011/test/psnr']:.2f}",
        f"{metrics['baseline/dong2011/test/ssim']:.4f}",
    ]
    psnrs = [float(line.split()[1]) for line in table[2:9]]
    assert psnrs == sorted(psnrs, reverse=True)


def test_a_baseline_scores_as_lle_eval_scores_the_method(trained, tmp_path):
    root, _ = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    alone = evaluate(compose_config("eval", [*TINY_EVAL, "model=dong2011", "baselines=false"], tmp_path / "alone"))
    assert not any(keys.is_baseline(k) for k in alone)
    for name in keys.IMAGE_METRICS:
        logged = keys.key(keys.TEST, name)
        assert alone[logged] == pytest.approx(metrics[keys.baseline_key("dong2011", logged)], abs=1e-6)

    # lle-eval of a classical method compares it with the others it is asked for, never with itself.
    picked = evaluate(compose_config("eval", [*TINY_EVAL, "model=gamma", "baselines=[input,gamma,he]"], tmp_path / "e"))
    assert sorted({keys.split_baseline_key(k)[0] for k in picked if keys.is_baseline(k)}) == ["he", "input"]
    assert picked["baseline/input/test/psnr"] == pytest.approx(metrics["baseline/input/test/psnr"], abs=1e-6)


def test_the_report_lists_baselines_once_beside_the_runs(trained, tmp_path):
    root, _ = trained
    # A second run on the same data and protocol: the same baseline values, which must not be listed twice.
    evaluate(compose_config("eval", [*TINY_EVAL, "model=he"], root / "eval_he"))
    rows = leaderboard([root])
    baselines = [r for r in rows if r["kind"] == "baseline"]
    # he is left out: the eval run of he shows the very numbers its baseline row would.
    assert sorted(r["model"] for r in baselines) == sorted({keys.INPUT, *classical_methods()} - {"he"})
    assert {Path(r["run_dir"]).name for r in rows if r["kind"] == "run"} == {"run", "eval_he"}
    assert all(r["run"].startswith("baseline (scored with ") for r in baselines)
    assert next(r for r in baselines if r["model"] == "dong2011")["run"].endswith("and 1 more)")
    table = [line for line in markdown_table(rows).splitlines() if "| baseline (scored with" in line]
    assert len(table) == len(baselines) and any("| dong2011 |" in line for line in table)
    write_report([root], tmp_path / "report")
    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count('<tr class="baseline">') == len(baselines)


def test_unknown_or_malformed_baselines_are_named(tiny_train_cfg):
    with pytest.raises(UsageError, match=r"unknown method\(s\) retinex9.*choose among input, clahe"):
        train(tiny_train_cfg(*SMALL_GLADNET, "baselines=[input,retinex9]"))
    with pytest.raises(UsageError, match="expected true, false or a list"):
        train(tiny_train_cfg(*SMALL_GLADNET, "baselines=3"))
    assert not (Path(tiny_train_cfg().paths.output_dir) / "metrics.json").exists()


def test_baselines_on_packed_raw_data(tiny_train_cfg):
    raw = ["data=synthetic_raw", "data.num_scenes=6", "data.image_size=[96,144]", "data.crop_size=16"]
    raw += ["data.batch_size=2", "data.eval_crop_size=32"]
    result = train(tiny_train_cfg("model=gamma", "baselines=[input,dong2011]", data=raw))
    found = {keys.split_baseline_key(k)[0] for k in result if keys.is_baseline(k)}
    assert found == {"input", "dong2011"}
    assert math.isfinite(result["baseline/input/test/psnr"]) and result["baseline/dong2011/test/ssim"] > 0


def test_report_on_a_core_install_without_matplotlib(trained, tmp_path):
    root, _ = trained
    blocked = "import sys; sys.modules['matplotlib'] = None; from lle.cli.report import main; sys.exit(main())"
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-c", blocked, str(root / "run"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert NO_MATPLOTLIB in proc.stdout.splitlines()
    assert sorted(p.name for p in out.iterdir()) == ["grids", "index.html", "leaderboard.csv", "leaderboard.md"]
    page = (out / "index.html").read_text()
    assert '.png" alt="test PSNR' not in page and "no plots" in page


def test_leaderboard_numbers_are_formatted_and_empty_figures_left_out(trained, tmp_path):
    root, _ = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    assert metrics["macs_256"] > 0  # the run counts its own MACs: a report never has to rebuild its network
    # An older run's metrics.json alone (no macs_256, no config.yaml to count MACs from): the figure is left out.
    bare = tmp_path / "copied" / "run"
    bare.mkdir(parents=True)
    (bare / "metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "macs_256"}))
    report = write_report([bare], tmp_path / "out")
    assert "psnr_vs_macs.png" not in report.files and "per_image_psnr.png" not in report.files
    assert any(note.startswith("psnr_vs_macs.png left out: no finished run of a network") for note in report.notes)
    assert not (tmp_path / "out" / "psnr_vs_macs.png").exists()

    report = write_report([root / "run"], tmp_path / "full")
    assert report.files == ["index.html", "leaderboard.md", "leaderboard.csv", "psnr_vs_macs.png", "per_image_psnr.png"]
    for page in ("leaderboard.md", "index.html"):  # the protocol's optional lines in words, not as templates
        text = (tmp_path / "full" / page).read_text()
        assert "rgb2ycbcr Y" in text and "{luma}" not in text and "{net}" not in text, page
    line = next(x for x in (tmp_path / "full" / "leaderboard.md").read_text().splitlines() if "| gladnet |" in x)
    assert metrics["params"] > 1000 and f"| {metrics['params']:,} |" in line
    assert f"| {metrics['test/psnr']:.2f} | {metrics['test/ssim']:.4f} |" in line


def test_a_multirun_ends_with_a_table_of_its_jobs(tmp_path):
    from conftest import TINY_RUN, TINY_SYNTHETIC

    sweep = tmp_path / "sweep"
    # Two jobs: one fine, one refused by lle's option check (a negative crop), which a sweep records as failed.
    command = [sys.executable, "-m", "lle.cli.train", "-m", *TINY_RUN, *TINY_SYNTHETIC, "model=gamma"]
    command += ["data.eval_crop_size=48,-4", "baselines=[input,lime]", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    at = lines.index(f"sweep {sweep}: 2 jobs, 1 not ok")
    ok = json.loads((sweep / "0_gamma" / "metrics.json").read_text())
    assert lines[at + 1].split() == ["status", "model", "PSNR", "SSIM", "run", "directory"]
    assert lines[at + 2].split() == ["ok", "gamma", f"{ok['test/psnr']:.2f}", f"{ok['test/ssim']:.4f}", "0_gamma"]
    assert lines[at + 3].split()[:5] == ["failed", "gamma", "-", "-", "1_gamma"] and "eval_crop_size" in lines[at + 3]
    best = max(("input", "lime"), key=lambda m: ok[f"baseline/{m}/test/psnr"])
    assert lines[at + 4].startswith(f"  best baseline on the test split: {best} ")
    assert lines[at + 5] == f"leaderboard, plots and images: lle-report {sweep}"
    # Lightning's adverts and torch's LeafSpec deprecation, which every Trainer used to print, are not shown.
    assert "💡" not in proc.stdout + proc.stderr and "LeafSpec" not in proc.stdout + proc.stderr


def test_the_training_and_evaluation_commands_load_lightning_only_to_run():
    # `--help` and a refused option answer at once: Lightning (seconds to import) is loaded inside the run only.
    code = "import sys, lle.cli.train, lle.cli.eval; print('pytorch_lightning' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"


def test_help_opens_with_lle_and_states_each_default_once():
    bin_dir = Path(sys.executable).parent
    for command, opening in (("lle-train", "lle-train: train a low-light"), ("lle-eval", "lle-eval: evaluate")):
        exe = shutil.which(command) or str(bin_dir / command)
        text = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=300, check=True).stdout
        assert text.startswith(opening), text[:200]
        assert text.index("Examples:") < text.index("== Configuration groups ==") < text.index("== Config ==")
    exe = shutil.which("lle-enhance") or str(bin_dir / "lle-enhance")
    text = " ".join(
        subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=300, check=True).stdout.split()
    )
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: OUTPUT/metrics.csv) (default" not in text and "docs/benchmarks.md) (default" not in text
    assert "overlap of the tiles in pixels (default: 32)" in text
    # The argparse scripts open with a sentence, not with a stray piece of their docstring's "`command …`: ".
    openings = {
        "lle-bench": "Parameters, MACs, latency",
        "lle-prepare-sid": "Develop SID ground truths",
        "lle-report": "A leaderboard of finished runs",
        "lle-enhance": "Enhance image files",
        "lle-export": "A checkpoint as ONNX",
    }
    for command, opening in openings.items():
        exe = shutil.which(command) or str(bin_dir / command)
        text = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=300, check=True).stdout
        description = " ".join(text.split("\n\n")[1].split())
        assert description.startswith(opening) and "`" not in description, (command, description)


def test_the_model_summary_shows_macs_as_the_report_counts_them(capsys):
    import torch
    from pytorch_lightning.utilities.model_summary import ModelSummary as LightningSummary
    from torch.utils.flop_counter import FlopCounterMode

    import lle.models
    from lle.callbacks.model_summary import ModelSummary
    from lle.models.complexity import network_macs
    from lle.modules import EnhancementModule

    net = lle.models.build("gladnet", global_channels=8, detail_channels=8).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.rand(1, 3, 256, 256))
    macs = network_macs(net)
    assert macs == counter.get_total_flops() // 2 > 0

    summary = LightningSummary(EnhancementModule(net), max_depth=1)  # what the callback is given at fit start
    ModelSummary.summarize(
        summary._get_summary_data(),
        summary.total_parameters,
        summary.trainable_parameters,
        summary.model_size,
        summary.total_training_modes,
        total_flops=summary.total_flops,
        macs=macs,
    )
    printed = capsys.readouterr().out
    assert "MACs at 256×256: " in printed and f"({macs:,})" in printed and "FLOPs" not in printed
    assert f"({sum(p.numel() for p in net.parameters()):,})" in printed


def test_a_run_without_a_terminal_logs_where_it_writes_and_its_progress(tmp_path):
    from conftest import TINY_RUN, TINY_SYNTHETIC

    run = tmp_path / "run"
    command = [sys.executable, "-m", "lle.cli.train", *TINY_RUN, *TINY_SYNTHETIC, "model=gladnet"]
    command += ["model.net.global_channels=8", "model.net.detail_channels=8", "trainer.max_epochs=2", "test=false"]
    command += ["callbacks.progress_log.every_n_seconds=0", f"hydra.run.dir={run}"]  # a line at every step
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)  # a pipe, no terminal
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    steps = [i for i, line in enumerate(lines) if " - step " in line]
    assert [lines[i].split(" - step ")[1].split(" ")[0] for i in steps] == ["1/4", "2/4", "3/4", "4/4"]
    assert "(epoch 2/2): loss " in lines[steps[-1]] and "steps/s, 0s left" in lines[steps[-1]]
    start = next(i for i, line in enumerate(lines) if f"run directory: {run}" in line)
    assert start < steps[0]  # said before the first step, not only at the end
    log = (run / "train.log").read_text()
    assert " - step 4/4 (epoch 2/2)" in log and "training ended: 4 steps in" in log


def test_a_limited_run_counts_what_it_scored_and_shows_no_hints_a_user_cannot_act_on(tmp_path):
    from conftest import TINY_SYNTHETIC

    # A machine with SLURM installed (a login node): an `srun` on the PATH, no allocation.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "lle.cli.train", "debug=limit", "trainer=cpu", *TINY_SYNTHETIC, "model=gladnet"]
    command += ["model.net.global_channels=8", "model.net.detail_channels=8", "callbacks.progress_bar=null"]
    command += ["baselines=[input]", "data.eval_batch_size=1", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert "`srun` command is available" not in output  # the run is a local one
    assert "smaller than the logging interval" not in output  # lle's own debug=limit preset caused it
    # debug=limit tests one batch of one image of the two: every count says one.
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["split_sizes"]["test"] == 1 and metrics["split_sizes"]["test_available"] == 2
    assert len((tmp_path / "run" / "per_image.csv").read_text().splitlines()) == 1 + 1
    assert "test split (1 image)" in output and "(2 images)" not in output
