"""Faults and bad input: exact resume after a real kill, non-finite losses, unusable paths, wrong checkpoints."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import SMALL_GLADNET, TINY_RUN, TINY_SYNTHETIC, compose_config
from lle.cli.eval import evaluate
from lle.cli.train import train

DETERMINISTIC_RUN = [a for a in TINY_RUN if not a.startswith("trainer=")] + [
    "trainer=deterministic",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=3",
    "test=false",
    *SMALL_GLADNET,
    *TINY_SYNTHETIC,
    "data.samples_per_epoch=8",
    "trainer.limit_train_batches=null",
]


def _cli(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lle.cli.train", *DETERMINISTIC_RUN, f"hydra.run.dir={run_dir}", *extra]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.slow
def test_killed_run_resumes_to_identical_weights(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    subprocess.run(_cli(reference), cwd=tmp_path, env=_env(), check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(
        _cli(interrupted), cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last, log = interrupted / "checkpoints" / "last.ckpt", interrupted / "csv" / "metrics.csv"
    deadline = time.time() + 300
    # Kill once a checkpoint and epoch 0's log rows are on disk (the CSV logger flushes after the checkpoint: on a
    # loaded machine a kill at the first checkpoint can come before epoch 0's rows were ever written).
    while not (last.exists() and "0" in _csv_epochs(log)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: whatever is on disk is what a crash leaves
    proc.wait()
    assert last.exists(), "the run ended before its first checkpoint"
    epoch_at_kill = torch.load(last, map_location="cpu", weights_only=False)["epoch"]
    assert epoch_at_kill < 2, "the kill came too late to interrupt training"

    subprocess.run(
        _cli(interrupted, f"ckpt_path={last}"), cwd=tmp_path, env=_env(), check=True, capture_output=True, timeout=600
    )
    expected, resumed = _weights(reference), _weights(interrupted)
    assert expected.keys() == resumed.keys()
    for key in expected:
        assert torch.equal(expected[key], resumed[key]), key
    # The CSV log of the interrupted part is kept: epoch 0 rows are still there after the resume.
    assert {"0", "1", "2"} <= _csv_epochs(log)


def _csv_epochs(path: Path) -> set[str]:
    """The epochs of a Lightning metrics.csv's rows (none while it does not exist yet)."""
    if not path.exists():
        return set()
    with open(path, newline="") as f:
        return {row.get("epoch") or "" for row in csv.DictReader(f)}


def test_a_users_mistake_prints_one_block_without_a_traceback_and_leaves_no_directory(tmp_path):
    run = tmp_path / "run"
    bad_value = subprocess.run(
        _cli(run, "seed=abc"), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert bad_value.returncode == 2 and "Traceback" not in bad_value.stderr
    assert "lle-train: error: seed='abc': expected a whole number" in bad_value.stderr
    assert not run.exists()  # refused before it started: not even Hydra's files are left
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "lle.cli.train",
            "trainer=cpu",
            "data=lol",
            f"data.root={tmp_path / 'nowhere'}",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "\\n" not in missing.stderr
    assert f"lle-train: error: data.root={tmp_path / 'nowhere'} does not hold the expected folders" in missing.stderr
    assert f"the traceback is in {run / 'metrics.json'}" in missing.stderr
    assert "Traceback" in json.loads((run / "metrics.json").read_text())["traceback"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 128 KiB tmpfs: a real full disk (mounting needs root, as on the CI machines)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root); test_atomic.py injects the full disk instead")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_says_no_space_left_on_the_folder(tmp_path, tiny_disk):
    run = tiny_disk / "run"
    full = subprocess.run(
        _cli(run, "callbacks.image_grid=null"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-3000:]
    assert f"lle-train: error: [Errno 28] no space left on {run / 'checkpoints'}" in full.stderr
    assert not [p for p in run.rglob("*") if p.name.endswith(".partial")]


def test_a_torchscript_export_onto_a_full_disk_says_so_and_leaves_nothing(checkpoint, tmp_path, tiny_disk):
    with open(tiny_disk / "filler", "wb", buffering=0) as filler:  # take the disk's last free blocks
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass
    done = subprocess.run(
        [sys.executable, "-m", "lle.cli.export", str(checkpoint), "--torchscript", str(tiny_disk / "model.pt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # It used to abort the process from torch's C++ writer (exit 134) and leave its temporary file behind.
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"no space left on {tiny_disk}" in done.stderr
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


def _start_long_run(run: Path, started: Path, **popen_args) -> subprocess.Popen:
    """A 200-epoch lle-train into `run`, returned once it has written `started` (and is still running)."""
    proc = subprocess.Popen(_cli(run, "trainer.max_epochs=200"), cwd=run.parent, env=_env(), **popen_args)
    deadline = time.time() + 300
    while not started.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before writing {started.name}"
    return proc


@pytest.mark.slow
def test_sigterm_exits_non_zero_and_says_the_run_was_interrupted(tmp_path):
    run = tmp_path / "run"
    proc = _start_long_run(
        run, run / "checkpoints" / "last.ckpt", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    proc.send_signal(signal.SIGTERM)  # what a scheduler sends to pre-empt a job
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143, output
    assert "run interrupted by SIGTERM before it finished; resume with ckpt_path=" in output
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["error"] == "Preempted"  # lle.callbacks.preemption


@pytest.mark.slow
def test_a_second_run_into_a_running_or_finished_run_writes_nothing_there(tmp_path):
    run = tmp_path / "run"
    first = _start_long_run(run, run / "csv" / "metrics.csv", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        hydra_files = sorted((run / ".hydra").iterdir())
        written = {p: p.read_bytes() for p in [*hydra_files, run / "config.yaml", run / "command.txt"]}
        stamps = {p: p.stat().st_mtime_ns for p in written}
        second = subprocess.run(
            _cli(run, "seed=7"), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 2, second.stderr
        assert "is in use by a run in progress (process" in second.stderr
        assert {p: p.read_bytes() for p in written} == written
        assert {p: p.stat().st_mtime_ns for p in written} == stamps  # not even rewritten with the same bytes
        assert sorted((run / ".hydra").iterdir()) == hydra_files
    finally:
        first.kill()
        first.wait()
    # The killed run's marker holds nothing: a resume may continue in its directory.
    from lle.runs.guard import RUNNING_MARKER, refuse_taken_dir

    assert (run / RUNNING_MARKER).exists()
    refuse_taken_dir(run, resume_from=str(run / "checkpoints" / "last.ckpt"))


def test_a_network_that_diverged_in_its_last_step_is_never_selected_nor_scored(tiny_train_cfg, tmp_path):
    # One step per epoch: the loss of that step is finite, the weights after it make non-finite outputs.
    cfg = tiny_train_cfg(
        "model=gladnet",
        *SMALL_GLADNET,
        "model.optimizer.lr=1e30",
        "model.scheduler=null",
        "data.samples_per_epoch=8",
        "data.batch_size=8",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=null",
        output_dir=tmp_path / "run",
    )
    with pytest.raises(FloatingPointError, match=r"the network's output for val_\w+.* is not finite \(global step 1\)"):
        train(cfg)
    assert not list((tmp_path / "run").rglob("*.ckpt"))  # no checkpoint was selected on a NaN validation
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "failed"


def test_non_finite_loss_stops_with_step_and_batch_and_keeps_good_weights(tiny_train_cfg):
    cfg = tiny_train_cfg(
        "model=gladnet",
        *SMALL_GLADNET,
        "trainer.max_epochs=2",
        "test=false",
        "+loss._target_=lle_test_helpers.NonFiniteAfter",
        "+loss.after=3",
        "~loss",
    )
    with pytest.raises(FloatingPointError, match=r"non-finite training loss .* global step 3 .*batch 1"):
        train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())
    metrics = (Path(cfg.paths.output_dir) / "metrics.json").read_text()
    assert '"status": "failed"' in metrics and "non-finite" in metrics


def test_unwritable_output_directory_fails_before_training(tiny_train_cfg, tmp_path):
    if os.geteuid() == 0:
        # root ignores permission bits: make the output path a file instead, which nobody can write into.
        blocker = tmp_path / "blocked"
        blocker.write_text("not a directory")
        out, why = blocker / "run", f"{blocker}, above it, is a file"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out, why = locked / "run", f"{locked} is not writable"
    cfg = tiny_train_cfg(*SMALL_GLADNET, output_dir=out)
    with pytest.raises(PermissionError, match=f"output directory {out}: {why}"):
        train(cfg)
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.json"))


def test_out_of_range_values_are_rejected_by_option_name_before_anything_is_written(tiny_train_cfg, tmp_path):
    cfg = tiny_train_cfg(*SMALL_GLADNET, "model.optimizer.lr=-0.1")
    with pytest.raises(ValueError, match=r"model\.optimizer\.lr=-0\.1: expected a positive, finite number"):
        train(cfg)
    assert not (tmp_path / "run" / "config.yaml").exists()
    cfg = tiny_train_cfg(*SMALL_GLADNET, "data.batch_size=0", output_dir=tmp_path / "run2")
    with pytest.raises(ValueError, match=r"data\.batch_size=0: expected a positive, finite number"):
        train(cfg)
    cfg = tiny_train_cfg(*SMALL_GLADNET, "model.optimizer.lr=inf", output_dir=tmp_path / "run3")
    with pytest.raises(ValueError, match=r"model\.optimizer\.lr=inf: expected a positive, finite number"):
        train(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("seed=abc", r"seed='abc': expected a whole number"),
        ("seed=1.5", r"seed=1\.5: expected a whole number"),
        ("model.optimizer.lr=abc", r"model\.optimizer\.lr='abc': expected a number"),
        ("data.crop_size=abc", r"data\.crop_size='abc': expected a whole number"),
        ("data.ratio_range=[50,5]", r"data\.ratio_range=\[50, 5\]: expected \[low, high\] with low ≤ high"),
        ("+modle.lr=1", r"unknown top-level option\(s\) modle; lle-train knows .*model"),
        ("trainer.max_epochs=0", r"trainer\.max_epochs=0 leaves nothing to train"),
        ("trainer.limit_train_batches=0", r"trainer\.limit_train_batches=0 leaves nothing to train"),
        ("data.num_val=0", r"data\.num_val=0 leaves no validation split"),
        ("data.samples_per_epoch=0", r"data\.samples_per_epoch=0 leaves every epoch empty"),
        (
            "trainer.check_val_every_n_epoch=5",
            r"trainer\.check_val_every_n_epoch=5 with trainer\.max_epochs=1 never validates",
        ),
    ],
)
def test_bad_option_values_are_named_before_anything_is_written(tiny_train_cfg, tmp_path, override, message):
    cfg = tiny_train_cfg(*SMALL_GLADNET, override, output_dir=tmp_path / "run")
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "run" / "config.yaml").exists()


@pytest.mark.parametrize(
    "model, message",
    [
        (["model=absgn", "model.net.start_channels=8"], r"data\.crop_size=8 gives 8×8 training targets, smaller than"),
        (["model=alen_quick"], r"data\.crop_size=8 is too small for alen_quick, which pads its input to a multiple"),
    ],
)
def test_a_crop_too_small_for_the_loss_or_the_network_is_named(tiny_train_cfg, tmp_path, model, message):
    cfg = tiny_train_cfg(*model, "data.crop_size=8", output_dir=tmp_path / "run")
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_resuming_from_another_models_or_a_truncated_checkpoint_names_it(tiny_train_cfg, checkpoint, tmp_path):
    cfg = tiny_train_cfg("model=mirnet_v2", f"ckpt_path={checkpoint}", output_dir=tmp_path / "run")
    with pytest.raises(ValueError, match=r"holds a gladnet checkpoint but model=mirnet_v2: resume with model=gladnet"):
        train(cfg)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:2000])
    cfg = tiny_train_cfg(*SMALL_GLADNET, f"ckpt_path={truncated}", output_dir=tmp_path / "run2")
    with pytest.raises(ValueError, match=f"{truncated}: cannot read the checkpoint"):
        train(cfg)


def test_official_weights_as_a_training_checkpoint_are_named_as_such(tiny_train_cfg, checkpoint, tmp_path):
    cfg = tiny_train_cfg(*SMALL_GLADNET, f"ckpt_path=official:gladnet:{checkpoint}", output_dir=tmp_path / "run")
    with pytest.raises(ValueError, match=r"ckpt_path resumes an lle run .* lle-eval model_weights=official:gladnet:"):
        train(cfg)
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_eval_of_an_srgb_checkpoint_on_raw_data_names_both(checkpoint, tmp_path):
    overrides = ["trainer=cpu", f"ckpt_path={checkpoint}", "data=synthetic_raw", "data.num_scenes=3"]
    cfg = compose_config("eval", overrides, tmp_path / "eval")
    with pytest.raises(ValueError, match=r"takes srgb input with 3 channels, but data=synthetic_raw gives raw_bayer"):
        evaluate(cfg)


def test_niqe_on_crops_smaller_than_its_blocks_is_refused_before_the_evaluation(checkpoint, tmp_path):
    overrides = ["trainer=cpu", f"ckpt_path={checkpoint}", "metrics.niqe=true", "data.eval_crop_size=64"]
    cfg = compose_config("eval", overrides, tmp_path / "eval")
    with pytest.raises(ValueError, match=r"data\.eval_crop_size=64 is smaller than NIQE's 96×96 blocks"):
        evaluate(cfg)
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_eval_refuses_a_checkpoint_and_official_weights_together(checkpoint, tmp_path):
    cfg = compose_config(
        "eval", ["trainer=cpu", f"ckpt_path={checkpoint}", "model_weights=official:mirnet:x.pth"], tmp_path
    )
    with pytest.raises(ValueError, match=r"give ckpt_path .* or model_weights .*, not both"):
        evaluate(cfg)
    missing = tmp_path / "missing.ckpt"
    cfg = compose_config("eval", ["trainer=cpu", f"ckpt_path={missing}"], tmp_path / "eval2")
    with pytest.raises(ValueError, match=f"ckpt_path: checkpoint {missing} does not exist"):
        evaluate(cfg)
    cfg = compose_config("eval", ["trainer=cpu", f"model_weights=official:mirnet:{missing}"], tmp_path / "eval3")
    with pytest.raises(ValueError, match=f"model_weights=official:mirnet:{missing}: no such file"):
        evaluate(cfg)
    assert not (tmp_path / "eval2" / "metrics.json").exists() and not (tmp_path / "eval3" / "metrics.json").exists()


def test_metrics_json_is_valid_json_when_a_metric_is_not_finite(tmp_path):
    from lle.runs.results import write_json

    write_json(tmp_path / "metrics.json", {"test/psnr": float("nan"), "val/psnr": float("-inf"), "ok": [1.5]})
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"test/psnr": None, "val/psnr": None, "ok": [1.5]}


def test_resuming_removes_what_a_killed_writer_left_and_keeps_the_checkpoints(tmp_path):
    from lle.runs.guard import check_output_dir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(b"good")
    stale = run / "checkpoints" / ".last.ckpt.k2j4x9.partial"
    stale.write_bytes(b"half a checkpoint")
    check_output_dir(run, resume_from=str(last))
    assert not stale.exists() and last.read_bytes() == b"good"


def test_a_checkpoint_save_that_fails_keeps_the_previous_checkpoint(tmp_path):
    from lle.callbacks.checkpoint_io import AtomicCheckpointIO

    io, target = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": 1, "weights": torch.ones(3)}, target)
    good = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 — pickling errors vary by Python version; a lambda cannot be pickled: torch.save fails part-way through the file
        io.save_checkpoint({"step": 2, "weights": torch.zeros(1000), "callback": lambda: None}, target)
    assert target.read_bytes() == good
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]  # no temporary file left behind
    assert torch.load(target, weights_only=False)["step"] == 1


def test_runs_started_in_the_same_second_get_their_own_directories():
    """The run directory ends in a random suffix (`lle_uid`, conf/hydra/default.yaml) after the time stamp."""
    script = (
        "from lle.config import CONFIG_DIR, register_resolvers; register_resolvers()\n"
        "from hydra import compose, initialize_config_dir\n"
        "from hydra.core.hydra_config import HydraConfig\n"
        "with initialize_config_dir(config_dir=CONFIG_DIR, version_base='1.3'):\n"
        "    cfg = compose('train', return_hydra_config=True)\n"
        "HydraConfig.instance().set_config(cfg)\n"
        "print(cfg.hydra.run.dir)"
    )
    started = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    dirs = [p.communicate(timeout=120)[0].strip() for p in started]
    assert all("/train/runs/" in d for d in dirs), dirs
    assert dirs[0].rsplit("_", 1)[1] != dirs[1].rsplit("_", 1)[1]  # the suffixes differ whatever the clock did


def test_crop_larger_than_the_synthetic_photographs_is_an_error(tiny_train_cfg):
    cfg = tiny_train_cfg(*SMALL_GLADNET, "data.crop_size=4096")
    with pytest.raises(ValueError, match="crop_size"):
        train(cfg)


def test_checkpoint_of_another_model_is_refused_by_name(tiny_train_cfg, tmp_path):
    cfg = tiny_train_cfg(*SMALL_GLADNET, "test=false")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    eval_cfg = compose_config("eval", ["trainer=cpu", "model=gamma", f"ckpt_path={ckpt}"], tmp_path / "eval")
    with pytest.raises(ValueError, match=r"model=gamma was given but .* holds a gladnet checkpoint"):
        evaluate(eval_cfg)
    not_lle = tmp_path / "plain.pth"
    torch.save({"weights": torch.zeros(3)}, not_lle)
    eval_cfg = compose_config("eval", ["trainer=cpu", f"ckpt_path={not_lle}"], tmp_path / "eval2")
    with pytest.raises(ValueError, match="not an lle checkpoint"):
        evaluate(eval_cfg)


def test_image_too_small_for_the_network_names_the_minimum():
    import lle.models

    net = lle.models.build("absgn", start_channels=8)  # needs a multiple of 8
    assert net(torch.rand(1, 3, 5, 5)).shape == (1, 3, 5, 5)  # reflect-padded to 8x8 and cropped back
    with pytest.raises(ValueError, match=r"3x3 pixels is too small .* multiple of 8"):
        net(torch.rand(1, 3, 3, 3))


def test_a_failed_resume_keeps_the_finished_results(tmp_path):
    from lle.runs.results import record_failure

    results = tmp_path / "metrics.json"
    results.write_text('{"status": "ok", "test/psnr": 21.5}')
    record_failure(tmp_path, RuntimeError("out of memory in epoch 7"), {"model": "gladnet"})
    assert results.read_text() == '{"status": "ok", "test/psnr": 21.5}'
    [failure] = tmp_path.glob("failure-*.json")
    assert "out of memory in epoch 7" in failure.read_text()


def test_a_diverged_training_is_one_block_on_the_console(tmp_path):
    tests = str(Path(__file__).parent)  # lle_test_helpers: a loss that turns NaN at its 4th call
    loss = ["+loss._target_=lle_test_helpers.NonFiniteAfter", "+loss.after=3", "~loss"]
    env = {**_env(), "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        _cli(tmp_path / "run", *loss), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "lle-train: error: non-finite training loss nan at global step 3" in proc.stderr
    assert f"the traceback is in {tmp_path / 'run' / 'metrics.json'}" in proc.stderr


def test_a_run_directory_that_is_a_file_is_refused(tmp_path):
    from lle.runs.guard import RunDirectoryUnwritable, refuse_taken_dir

    afile = tmp_path / "results.txt"
    afile.write_text("mine")
    with pytest.raises(RunDirectoryUnwritable, match=f"output directory {afile}: {afile} is a file"):
        refuse_taken_dir(afile)
    assert afile.read_text() == "mine"
    # Under a file: refused by the Hydra callback before Hydra creates anything, one line and exit 2.
    command = [sys.executable, "-m", "lle.cli.train", "model=gamma", "trainer=cpu", f"hydra.run.dir={afile / 'run'}"]
    proc = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"error: output directory {afile / 'run'}: {afile}, above it, is a file" in proc.stderr
    assert afile.read_text() == "mine"


def test_last_checkpoint_holds_the_last_weights_when_the_best_came_earlier(tiny_train_cfg):
    # Learning rate 1e-30 (no change in float32): validation never improves after the first epoch, so best.ckpt
    # stays at epoch 0, while last.ckpt must follow the run to its end (Lightning's own `save_last` re-saves it
    # only with a new best).
    cfg = tiny_train_cfg(*SMALL_GLADNET, "trainer.max_epochs=3", "test=false", "model.optimizer.lr=1e-30")
    train(cfg)
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    best = torch.load(checkpoints / "best.ckpt", map_location="cpu", weights_only=False)
    last = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    assert best["epoch"] == 0
    assert (last["epoch"], last["global_step"]) == (2, 6)  # 3 epochs of 2 steps (TINY_RUN)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]


@pytest.mark.parametrize(
    ("target", "victim_argument"),
    [
        ("torch.save", 1),  # torch.save(obj, path)
        ("lle.models.alen.torch.save", 1),  # the same function, reached through an lle.models module
        ("numpy.save", 0),
        ("lle.atomic.write_text_atomic", 0),  # lle's own code, but not a network
        ("not_a_module.X", 0),
    ],
)
def test_the_report_never_runs_code_named_by_a_run_folders_config(tmp_path, monkeypatch, target, victim_argument):
    # A downloaded sweep whose config names code to run: lle-report rebuilds a network to count its MACs only
    # when every _target_ is a network class lle defines; anything else is not instantiated, and no file is written.
    from lle.cli.report import main as report

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "sweep" / "0_hostile"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"status": "ok", "choice/model": "gladnet", "test/psnr": 20.0}))
    monkeypatch.chdir(tmp_path)  # a relative path written by the hostile call would land here, and be seen
    args = ["overwritten", "overwritten"]
    args[victim_argument] = str(victim)
    (run / "config.yaml").write_text(json.dumps({"model": {"net": {"_target_": target, "_args_": args}}}))
    legit = tmp_path / "sweep" / "1_gladnet"
    legit.mkdir()
    (legit / "metrics.json").write_text(json.dumps({"status": "ok", "choice/model": "gladnet", "test/psnr": 21.0}))
    net = {"_target_": "lle.models.gladnet.GLADNet", "global_channels": 8, "detail_channels": 8}
    (legit / "config.yaml").write_text(json.dumps({"model": {"net": net}}))
    with pytest.warns(UserWarning, match="not counting MACs"):
        assert report([str(tmp_path / "sweep"), "--out", str(tmp_path / "report")]) == 0
    assert victim.read_text() == "precious" and sorted(p.name for p in tmp_path.iterdir()) == [
        "report",
        "sweep",
        "victim.txt",
    ]
    with open(tmp_path / "report" / "leaderboard.csv", newline="") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    assert rows["sweep/0_hostile"]["macs_256"] == ""
    assert int(rows["sweep/1_gladnet"]["macs_256"]) > 0  # an older run of lle's own network is still counted


class _Payload:
    """Pickled into a hostile checkpoint: unpickling it would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_reading_a_checkpoint_runs_no_code_from_it(checkpoint, tmp_path):
    from lle.runs.checkpoint import load_lle_checkpoint, load_lle_network

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    marker = tmp_path / "ran"
    pickled = dict(state, extra=_Payload(marker))
    torch.save(pickled, tmp_path / "pickled.ckpt")
    with pytest.raises(ValueError, match=r"pickled.ckpt: not an lle checkpoint: it holds Python objects"):
        load_lle_network(tmp_path / "pickled.ckpt")
    assert not marker.exists()

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    hostile = dict(state, lle=dict(state["lle"]))
    hostile["lle"]["model_config"] = {
        **state["lle"]["model_config"],
        "net": {"_target_": "torch.save", "_args_": ["x", str(victim)]},
    }
    torch.save(hostile, tmp_path / "hostile.ckpt")
    for load in (load_lle_network, load_lle_checkpoint):
        with pytest.raises(ValueError, match=r"hostile.ckpt: _target_ torch.save is outside lle's networks"):
            load(tmp_path / "hostile.ckpt")
    assert victim.read_text() == "precious"
    load_lle_network(checkpoint)  # lle's own checkpoint still loads


def test_a_report_out_under_a_file_is_named(tmp_path, capsys):
    from lle.cli.report import main as report

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"status": "ok", "choice/model": "gamma", "test/psnr": 20.0}))
    (tmp_path / "notes.txt").write_text("mine")
    assert report([str(run), "--out", str(tmp_path / "notes.txt" / "report")]) == 2
    assert f"--out {tmp_path / 'notes.txt' / 'report'}: {tmp_path / 'notes.txt'}, above it, is a file" in (
        capsys.readouterr().err
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"
