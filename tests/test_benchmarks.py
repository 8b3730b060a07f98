"""The benchmark scripts and `lle-bench` run end to end in their CI form (`--quick`) and write sane outputs.

Only the outputs are checked, never the speed: timings on a shared CI machine prove nothing. The recorded
full-size figures are in docs/benchmarks.md.
"""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lle.models
from lle.models.exposure import DEFAULT_EXPOSURE

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_quick(command: list[str], cwd: Path) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bench")
    executable = shutil.which("lle-bench")
    command = [executable] if executable else [sys.executable, "-m", "lle.cli.bench"]
    run_quick([*command, "--quick", "--models", "gladnet,gamma", "--out", str(tmp / "out")], tmp)
    return tmp / "out"


@pytest.mark.slow
def test_lle_bench_quick_writes_json_csv_and_markdown(bench_out):
    out = bench_out
    report = json.loads((out / "bench.json").read_text())
    assert report["machine"]["cpu_cores"] >= 1 and report["machine"]["torch"]
    results = {r["model"]: r for r in report["results"]}
    assert set(results) == {"gladnet", "gamma"}
    for name, result in results.items():
        assert "error" not in result, result
        assert result["params"] == sum(p.numel() for p in lle.models.build(name).parameters())
        inference = [r for r in result["rows"] if r["kind"] == "inference"]
        assert {r["variant"] for r in inference} == {"plain", "fast", "fast_bf16"}
        for row in inference:
            assert "error" not in row, row
            assert row["median_s"] > 0 and row["min_s"] > 0 and row["n"] >= 1 and row["megapixels_per_s"] > 0
            assert row["peak_mem_mib"] is None or row["peak_mem_mib"] >= 0
    assert results["gladnet"]["macs_256"] / 1e9 == pytest.approx(34.76, abs=0.01)  # docs/specs/gladnet.md §0
    assert results["gamma"]["params"] == 0
    train = [r for r in results["gladnet"]["rows"] if r["kind"] == "train"]
    assert {r["variant"] for r in train} == {"train_fp32", "train_bf16"}
    assert all(r["median_s"] > 0 for r in train)
    assert not [r for r in results["gamma"]["rows"] if r["kind"] == "train"]  # nothing to train

    with open(out / "bench.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} == {"gladnet", "gamma"}
    assert all(float(r["median_ms"]) > 0 for r in rows)
    markdown = (out / "bench.md").read_text()
    assert "| gladnet | 931,523 | 34.76 |" in markdown and "## Training step, cpu" in markdown


@pytest.mark.slow
def test_lle_report_joins_bench_latencies_on_the_model_name(bench_out, tmp_path):
    from lle.report import main

    for index, model in enumerate(("gladnet", "gamma", "lime")):  # lime was not benchmarked: its cell stays empty
        run = tmp_path / "sweep" / f"{index}_{model}"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(
            json.dumps({"status": "ok", "choice/model": model, "test/psnr": 20.0 + index})
        )
    assert main([str(tmp_path / "sweep"), "--bench", str(bench_out / "bench.json")]) == 0

    bench = {r["model"]: r for r in json.loads((bench_out / "bench.json").read_text())["results"]}
    with open(tmp_path / "sweep" / "report" / "leaderboard.csv", newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    for model in ("gladnet", "gamma"):
        (fast,) = [r for r in bench[model]["rows"] if r["kind"] == "inference" and r["variant"] == "fast"]
        assert float(rows[model]["latency_ms/cpu/64x64"]) == pytest.approx(fast["median_s"] * 1e3)
    assert rows["lime"]["latency_ms/cpu/64x64"] == ""
    assert "latency_ms/cpu/64x64" in (tmp_path / "sweep" / "report" / "leaderboard.md").read_text()
    assert main([str(tmp_path / "sweep"), "--bench", str(tmp_path / "missing.json")]) == 2  # named, not a traceback


@pytest.mark.slow
def test_framework_overhead_quick(tmp_path):
    result = last_json_line(run_quick([sys.executable, str(BENCHMARKS / "framework_overhead.py"), "--quick"], tmp_path))
    (tiny,) = result["results"]
    assert set(tiny["median_ms"]) == {"plain", "lightning", "lightning+callbacks"}
    assert all(v > 0 for v in tiny["median_ms"].values())
    assert tiny["ratio_lightning"] > 0 and tiny["ratio_lightning_callbacks"] > 0


@pytest.mark.slow
def test_data_pipeline_quick(tmp_path):
    result = last_json_line(run_quick([sys.executable, str(BENCHMARKS / "data_pipeline.py"), "--quick"], tmp_path))
    loaders = {(e["data"], e["workers"]): e for e in result["loaders"]}
    assert set(loaders) == {("synthetic", 0), ("folder", 0), ("synthetic", 2), ("folder", 2)}
    for entry in loaders.values():
        assert entry["batches_per_s"] > 0 and entry["pairs_per_s"] > 0 and entry["ratio_to_gladnet"] > 0
    assert result["folder_dataset_pairs_per_s"] > 0
    assert all(g["step_s"] > 0 for g in result["gladnet"].values())
    assert set(result["targets"]) == {"loader_at_least_5x_gladnet", "folder_pairs_per_s_at_least_300"}


@pytest.mark.slow
def test_inference_defaults_quick(tmp_path):
    result = last_json_line(run_quick([sys.executable, str(BENCHMARKS / "inference_defaults.py"), "--quick"], tmp_path))
    models = {r["model"]: r for r in result["results"]}
    assert set(models) == {"gladnet", "gamma"}
    for r in models.values():
        for variant in ("plain", "channels_last", "bf16"):
            entry = r["variants"][variant]
            assert entry["median_s"] > 0 and entry["speedup"] > 0, (r["model"], variant, entry)
    assert models["gladnet"]["params"] == 931_523


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, args, expect",
    [
        (
            "tiled_enhance_memory.py",
            ["--size", "96", "144", "--tile", "64", "--overlap", "16", "--images", "2"],
            "peak RSS after   image 1:",
        ),
        (
            "tiled_enhance_memory.py",
            ["--model", "alen", "--set", "srgb_input=true", "in_channels=3", "--size", "64", "96", "--tile", "0"],
            "untiled",
        ),
        ("forward_memory.py", ["--model", "gladnet", "--size", "48", "64"], "MiB"),
        (
            "tiled_seams.py",
            ["--model", "gladnet", "--size", "64", "96", "--tiles", "64", "--overlap", "16", "--threads", "1"],
            "| tile 64, overlap 16 |",
        ),
        (
            "tiled_seams.py",
            ["--model", "gladnet", "--set", "detail_channels=8", "--size", "48", "64", "--sweep", "--overlap", "8"],
            "overlap 8: smallest tile reaching 45 dB: 32",
        ),
        ("alen_full_frame_memory.py", ["--size", "32", "48"], "MiB"),
    ],
    ids=[
        "tiled_many_images",
        "tiled_alen_srgb",
        "forward_memory",
        "tiled_seams",
        "tiled_seams_sweep",
        "alen_full_frame",
    ],
)
def test_memory_scripts_run_at_tiny_sizes(script, args, expect, tmp_path):
    """The memory scripts have no --quick form: tiny sizes keep them from rotting; their figures are not checked."""
    stdout = run_quick([sys.executable, str(BENCHMARKS / script), *args], tmp_path)
    assert expect in stdout, stdout


def test_default_run_benchmark_times_lle_train_and_records_the_baselines(tmp_path):
    # The README's main job in its CI form: the real console script and default model, 2 tiny steps, not 1,000.
    record = tmp_path / "default_run.json"
    overrides = [
        "trainer.limit_train_batches=2",
        "trainer.max_epochs=1",
        "trainer.num_sanity_val_steps=0",
        "data.crop_size=32",
        "data.eval_crop_size=64",
        "data.eval_batch_size=2",
        "data.num_test=2",
        "callbacks.progress_bar=null",
    ]
    command = [sys.executable, str(BENCHMARKS / "default_run.py"), "--keep", str(tmp_path / "run"), "--json"]
    stdout = run_quick([*command, str(record), "--", *overrides], tmp_path)
    result = json.loads(record.read_text())
    assert result["wall_s"] > 0 and result["machine"] and len(result["load_average_before"]) == 3
    assert "test/psnr" in result["metrics"] and "baseline/dong2011/test/psnr" in result["metrics"]
    assert "baseline/input/test/ssim" in result["metrics"] and "s wall" in stdout


def write_dark_pairs(root: Path, count: int = 3, size: tuple[int, int] = (200, 288)) -> Path:
    """A low/ + high/ folder of dark frames and references made from an embedded photograph (real PNG files)."""
    import numpy as np

    from conftest import write_png
    from lle.data.synthetic import make_lol_pair, seed_images

    photo = seed_images()["coffee"]
    rng = np.random.default_rng(0)
    for index in range(count):
        crop = np.ascontiguousarray(photo[index * 40 : index * 40 + size[0], : size[1]])
        low, high = make_lol_pair(crop, rng, ratio_range=(8, 8), shot_range=(1e-4, 1e-4))
        write_png(root / "low" / f"{index}.png", low)
        write_png(root / "high" / f"{index}.png", high)
    return root


def test_calibration_script_measures_real_and_synthetic_pairs(tmp_path):
    pairs = write_dark_pairs(tmp_path / "pairs")
    out = tmp_path / "out"
    command = [sys.executable, str(BENCHMARKS / "calibrate_lowlight.py"), str(pairs), "--out", str(out)]
    stdout = run_quick([*command, "--synthetic", "4", "--set", "black_range=[0,0]"], tmp_path)
    record = json.loads((out / "calibration.json").read_text())
    assert record["real_pairs"] == 3 and record["synthetic_pairs"] == 4
    assert record["degradation"]["black_range"] == [0, 0]
    # The pairs were darkened ×8 (before the black level of the ISP's tone curve): the ratio reads near it.
    assert 4 < record["summary"]["real"]["exposure_ratio"]["median"] < 20
    assert "exposure ratio" in stdout and (out / "calibration.md").is_file() and (out / "calibration.png").is_file()


def test_real_lowlight_script_scores_a_checkpoint_beside_the_classical_methods(checkpoint, tmp_path):
    pairs = write_dark_pairs(tmp_path / "pairs")
    shutil.copytree(pairs / "low", tmp_path / "unpaired" / "photos")
    out = tmp_path / "out"
    command = [sys.executable, str(BENCHMARKS / "real_lowlight.py"), str(checkpoint), "--pairs", str(pairs)]
    run_quick([*command, "--unpaired", str(tmp_path / "unpaired" / "photos"), "--out", str(out)], tmp_path)
    record = json.loads((out / "real_lowlight.json").read_text())
    assert set(record["summary"]) == {"input", "lle", "gamma", "he", "clahe", "dong2011", "lime"}
    assert all(len(rows) == 3 for rows in record["per_image"].values())
    assert record["summary"]["input"]["brightness_error_median"] > 0.5  # the dark frames themselves
    assert record["contact_sheet_columns"][:2] == ["input", "lle"] and (out / "contact_sheet.png").is_file()
    assert record["niqe"]["photos"]["images"] == 3 and "NIQE" in (out / "real_lowlight.md").read_text()
    # The references re-exposed to lle's default exposure: how far a fixed exposure is from them at best.
    floor = record["fixed_exposure_floor"]
    assert floor["exposure"] == DEFAULT_EXPOSURE and 0 < floor["median"] <= floor["worst"] < 5
    assert "floor of any fixed-exposure model" in (out / "real_lowlight.md").read_text()
