"""The real-data leaderboard (experiment=real_lol): one multirun trains every network of conf/leaderboard/ on a
LOL-layout tree, each with its own official loss and optimiser, selects on held-out training pairs and tests on
eval15 beside the classical methods; lle-report then draws the table. Here on a miniature tree of real PNGs, with
one batch an epoch."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from PIL import Image

from conftest import compose_config, write_lol_tree
from lle.config import CONFIG_DIR
from test_cli import run_cli

JOBS = sorted(p.stem for p in (Path(CONFIG_DIR) / "leaderboard").glob("*.yaml"))


def leaderboard_config(job: str, tmp_path: Path, *overrides: str):
    return compose_config(
        "train", ["experiment=real_lol", f"+leaderboard={job}", "data.root=/nowhere", *overrides], tmp_path
    )


def test_the_sweep_runs_every_leaderboard_file_and_nothing_else(tmp_path):
    compose_config("train", ["experiment=real_lol", "data.root=/nowhere"], tmp_path)
    assert sorted(HydraConfig.get().sweeper.params["+leaderboard"].split(",")) == JOBS
    assert {"alen", "alen_quick", "gladnet", "mirnet", "retinexnet", "absgn"} <= set(JOBS)


@pytest.mark.parametrize("job", JOBS)
def test_each_job_trains_its_network_with_its_official_loss_and_optimiser(job, tmp_path):
    cfg = leaderboard_config(job, tmp_path)
    assert HydraConfig.get().runtime.choices.model == job
    own = compose_config("train", [f"model={job}"], tmp_path)  # what model=<name> alone composes
    assert cfg.loss == own.loss
    for key in ("optimizer", "lr"):  # Retinex-Net's module builds its optimiser from `lr`
        assert cfg.model.get(key) == own.model.get(key)
    assert cfg.data._target_ == "lle.data.paired.PairedImageDataModule" and cfg.data.num_val == 3
    # The budget is a number of steps (the same table on any machine), with a validation every epoch.
    steps_per_epoch = cfg.data.samples_per_epoch // cfg.data.batch_size
    assert steps_per_epoch * cfg.data.batch_size == cfg.data.samples_per_epoch
    assert cfg.trainer.max_epochs in (2, 10) and cfg.trainer.check_val_every_n_epoch == 1
    assert "max_time" not in cfg.trainer or cfg.trainer.max_time is None


def test_one_command_trains_tests_and_reports_every_network(tmp_path):
    root = write_lol_tree(tmp_path / "LOL", n_train=8, n_test=2, size=(64, 96))
    sweep = tmp_path / "sweep"
    run_cli(
        [
            sys.executable,
            "-m",
            "lle.cli.train",
            "-m",
            "experiment=real_lol",
            f"data.root={root}",
            "data.num_val=2",
            "data.crop_size=32",
            "trainer.limit_train_batches=1",  # one batch an epoch: each job's own epochs, stages and validations
            "callbacks.progress_bar=null",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
    )
    runs = sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file())
    assert sorted(p.name.split("_", 1)[1] for p in runs) == JOBS
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["status"] == "ok", metrics.get("error")
        assert metrics["split_sizes"] == {"train": 6, "val": 2, "test": 2}
        assert metrics["test/psnr"] > 0 and metrics["train_time_s"] > 0 and metrics["params"] > 0
        assert metrics["baseline/dong2011/test/psnr"] > 0  # every classical method beside every network
        assert (run / "checkpoints" / "best.ckpt").is_file()
    exe = shutil.which("lle-report") or str(Path(sys.executable).with_name("lle-report"))
    run_cli([exe, str(sweep), "--out", str(tmp_path / "report")], cwd=tmp_path)
    table = (tmp_path / "report" / "leaderboard.md").read_text()
    for job in JOBS:
        assert f"| {job} " in table or f"_{job} " in table
    assert "dong2011" in table and "gamma" in table

    # The benchmark scripts the leaderboard's documentation is made with, on this sweep.
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    run_cli(
        [
            *(sys.executable, str(benchmarks / "leaderboard_grid.py"), str(sweep), "--pairs", str(root / "eval15")),
            *("--images", "500", "501", "--crop", "32", "--out", str(tmp_path / "grid.png")),
        ],
        cwd=tmp_path,
    )
    with Image.open(tmp_path / "grid.png") as grid:  # a column per method (6 networks, 5 classical, input, reference)
        assert grid.size == (32 * (len(JOBS) + 7), 18 + 2 * 32)
    seeds = run_cli([sys.executable, str(benchmarks / "leaderboard_seeds.py"), str(sweep), str(sweep)], cwd=tmp_path)
    rows = [line for line in seeds.stdout.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert {row.split(" | ")[0][2:] for row in rows} == {*JOBS, "input", "gamma", "he", "clahe", "dong2011", "lime"}
    assert all(" 0.00 | " in row for row in rows)  # the same sweep twice: no spread
