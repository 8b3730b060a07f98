"""The installed entry points, run as a user runs them: subprocesses started outside the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate

from conftest import SMALL_GLADNET, TINY_RUN, TINY_SYNTHETIC, compose_config
from lle.runs.checkpoint import load_lle_checkpoint


def run_cli(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def only_run_dir(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_lle_train_console_script_from_another_directory(tmp_path):
    exe = shutil.which("lle-train") or str(Path(sys.executable).with_name("lle-train"))
    proc = run_cli([exe, *TINY_RUN, *TINY_SYNTHETIC, *SMALL_GLADNET], cwd=tmp_path)
    run = only_run_dir(tmp_path / "logs" / "train" / "runs")
    output = proc.stdout + proc.stderr
    assert "run directory" in output and str(run / "metrics.json") in output
    assert json.loads((run / "metrics.json").read_text())["status"] == "ok"


def test_unknown_model_fails_with_the_valid_choices(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lle.cli.train", "model=unet9000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "unet9000" in proc.stderr and "gladnet" in proc.stderr


@pytest.mark.parametrize("command", ["train", "eval"])
def test_a_path_hydra_cannot_read_unquoted_is_named_with_its_quoting(tmp_path, command):
    root = tmp_path / "photos=2026" / "nuit étoilée"  # '=' and letters outside ASCII: Hydra's grammar refuses both
    root.mkdir(parents=True)
    option = f"data.root={root}"
    proc = subprocess.run(
        [sys.executable, "-m", f"lle.cli.{command}", "data=lol", option], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"Hydra cannot read the option {option!r}" in proc.stderr
    quoted = f"data.root='{root}'"
    assert f'"{quoted}"' in proc.stderr
    # Quoted as told, the same path reaches lle (which then finds no LOL data in it).
    proc = subprocess.run(
        [sys.executable, "-m", f"lle.cli.{command}", "data=lol", "model=gamma", quoted],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "Hydra cannot read" not in proc.stderr and str(root) in proc.stderr


def test_a_sweep_directory_is_never_reused(tmp_path):
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "lle.cli.train",
        "-m",
        *TINY_RUN,
        *TINY_SYNTHETIC,
        "model=gamma",
        f"hydra.sweep.dir={sweep}",
    ]
    run_cli(command, cwd=tmp_path)
    written = {p: p.stat().st_mtime_ns for p in sweep.rglob("*") if p.is_file()}
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and f"{sweep} already holds a sweep (multirun.yaml)" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in sweep.rglob("*") if p.is_file()} == written


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_a_single_process_evaluation(tmp_path):
    # 3 validation and 3 test samples over 2 ranks: a sampler that pads with duplicates would bias the DDP metrics.
    ddp = [a for a in TINY_RUN if not a.startswith("trainer=")] + ["trainer=ddp_cpu"]
    data = [a for a in TINY_SYNTHETIC if not a.startswith(("data.num_val", "data.num_test", "data.eval_batch_size"))]
    data += ["data.num_val=3", "data.num_test=3", "data.eval_batch_size=1"]
    run_cli(
        [
            sys.executable,
            "-m",
            "lle.cli.train",
            *ddp,
            *data,
            *SMALL_GLADNET,
            "trainer.limit_val_batches=null",
            "trainer.limit_test_batches=null",
            "baselines=[input,gamma]",  # scored over both ranks' shares, as the model is
        ],
        cwd=tmp_path,
    )
    # One output directory for the run, not one per rank, and nothing written beside it.
    top = sorted(
        p.relative_to(tmp_path).as_posix() for pattern in ("*", "*/*", "*/*/*") for p in tmp_path.glob(pattern)
    )
    assert top == ["logs", "logs/train", "logs/train/runs"]
    run = only_run_dir(tmp_path / "logs" / "train" / "runs")
    assert list(tmp_path.rglob("metrics.json")) == [run / "metrics.json"]
    ddp_metrics = json.loads((run / "metrics.json").read_text())
    assert ddp_metrics["status"] == "ok"

    run_cli(
        [
            sys.executable,
            "-m",
            "lle.cli.eval",
            "trainer=cpu",
            *data,
            f"ckpt_path={ddp_metrics['checkpoint_best']}",
            "baselines=[input,gamma]",
        ],
        cwd=tmp_path,
    )
    single = json.loads((only_run_dir(tmp_path / "logs" / "eval" / "runs") / "metrics.json").read_text())
    for key in ("test/psnr", "test/ssim", "baseline/input/test/psnr", "baseline/gamma/test/ssim"):
        assert single[key] == pytest.approx(ddp_metrics[key], abs=1e-4)

    # Validation of the same checkpoint (the one epoch's weights) in one process, on the same validation split.
    module, _ = load_lle_checkpoint(ddp_metrics["checkpoint_best"])
    cfg = compose_config("train", ["trainer=cpu", *data], tmp_path / "single_validation")
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_progress_bar=False)
    (single_val,) = trainer.validate(module, datamodule=instantiate(cfg.data))
    for key in ("val/psnr", "val/ssim", "val/psnr_best"):
        assert single_val[key] == pytest.approx(ddp_metrics[key], abs=1e-4), key
