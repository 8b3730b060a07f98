"""`lle-enhance` as a user runs it (a subprocess) on PNG files the tests write."""

import csv
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import make_pair, write_png
from lle.cli.enhance import find_inputs, read_input
from lle.data.io import read_image, write_image
from lle.inference import ModelInfo
from lle.metrics import psnr


@pytest.fixture
def low_light(tmp_path) -> dict[str, Path]:
    """input/ holds an 8-bit and a 16-bit PNG; gt/ their ground truths."""
    rng = np.random.default_rng(0)
    low_a, high_a = make_pair(rng, 40, 56)
    low_b, high_b = make_pair(rng, 33, 47)
    write_png(tmp_path / "input" / "a.png", low_a)
    write_image(tmp_path / "input" / "b.png", low_b.astype(np.uint16) * 257)  # 16-bit colour PNG
    write_png(tmp_path / "gt" / "a.png", high_a)
    write_png(tmp_path / "gt" / "b.png", high_b)
    return {"input": tmp_path / "input", "gt": tmp_path / "gt", "output": tmp_path / "output"}


def lle_enhance(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lle.cli.enhance", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_enhances_8_and_16_bit_pngs_and_scores_them(checkpoint, low_light):
    out = low_light["output"]
    result = lle_enhance(low_light["input"], out, "--model", checkpoint, "--gt", low_light["gt"])
    assert result.returncode == 0, result.stderr
    a, b = read_image(out / "a.png"), read_image(out / "b.png")
    assert a.dtype == np.uint8 and a.shape == (40, 56, 3)
    assert b.dtype == np.uint8 and b.shape == (33, 47, 3)
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["a", "b", "mean"]
    assert float(rows[2]["psnr"]) == pytest.approx((float(rows[0]["psnr"]) + float(rows[1]["psnr"])) / 2, abs=1e-3)
    assert all(0 < float(r["ssim"]) <= 1 for r in rows)
    assert "mean" in result.stderr and "PSNR" in result.stderr


def test_the_metrics_csv_never_replaces_an_image_or_a_foreign_file(checkpoint, low_light):
    out, first = low_light["output"], low_light["input"] / "a.png"
    original = first.read_bytes()
    common = ("--model", checkpoint, "--gt", low_light["gt"])
    result = lle_enhance(low_light["input"], out, *common, "--metrics-csv", first, "--overwrite")
    assert result.returncode == 2 and "is a file this command reads" in result.stderr and first.read_bytes() == original
    result = lle_enhance(low_light["input"], out, *common, "--metrics-csv", out / "x.png", "--overwrite")
    assert result.returncode == 2 and "would replace an image" in result.stderr
    notes = low_light["input"].parent / "notes.csv"
    notes.write_text("my,own\n1,2\n")
    result = lle_enhance(low_light["input"], out, *common, "--metrics-csv", notes)
    assert result.returncode == 2 and "is not an lle-enhance metrics file" in result.stderr
    assert notes.read_text() == "my,own\n1,2\n" and not out.exists()  # refused before any work
    result = lle_enhance(low_light["input"], low_light["gt"], *common)
    assert result.returncode == 2 and "scored against itself" in result.stderr
    # An earlier run's metrics.csv in the same folder is this command's own file: a rerun replaces it.
    assert lle_enhance(low_light["input"], out, *common).returncode == 0
    assert lle_enhance(low_light["input"], out, *common).returncode == 0


def test_bad_devices_and_tiny_tiles_are_refused_by_name(checkpoint, low_light):
    out = low_light["output"]
    result = lle_enhance(low_light["input"], out, "--model", checkpoint, "--device", "banana")
    assert result.returncode == 2 and "device 'banana' is not a device" in result.stderr
    result = lle_enhance(low_light["input"], out, "--model", checkpoint, "--device", "cuda:99")
    assert result.returncode == 2 and ("no CUDA GPU is available" in result.stderr or "CUDA GPU(s)" in result.stderr)
    result = lle_enhance(low_light["input"], out, "--model", checkpoint, "--tile", "1", "--tile-overlap", "0")
    assert result.returncode == 2 and "--tile 1 is too small: use at least 32" in result.stderr
    assert not out.exists()


def test_16_bit_output_from_a_glob_with_tiles_and_self_ensemble(checkpoint, low_light):
    out = low_light["output"]
    result = lle_enhance(
        f"{low_light['input']}/a.*",
        out,
        "--model",
        checkpoint,
        "--bits",
        "16",
        "--tile",
        "32",
        "--tile-overlap",
        "8",
        "--self-ensemble",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    a = read_image(out / "a.png")
    assert a.dtype == np.uint16 and a.shape == (40, 56, 3)


def test_tiled_output_matches_untiled_output(checkpoint, tmp_path):
    """The issue's bar: ≥ 45 dB between tiled and untiled output of a 512×512 photograph, default overlap."""
    from PIL import Image
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((512, 512), Image.BILINEAR)) // 6
    write_png(tmp_path / "in" / "photo.png", photo)
    for out, tiles in (("whole", []), ("tiled", ["--tile", "256"])):
        result = lle_enhance(tmp_path / "in", tmp_path / out, "--model", checkpoint, "--bits", "16", *tiles)
        assert result.returncode == 0, result.stderr
    whole, tiled = (
        torch.from_numpy(read_image(tmp_path / d / "photo.png").astype(np.float32) / 65535) for d in ("whole", "tiled")
    )
    assert tiled.shape == whole.shape == (512, 512, 3)
    assert float(psnr(tiled.permute(2, 0, 1)[None], whole.permute(2, 0, 1)[None])) >= 45


def test_existing_outputs_are_kept_unless_overwrite(checkpoint, low_light):
    out = low_light["output"]
    placeholder = np.full((4, 4, 3), 7, dtype=np.uint8)
    write_png(out / "a.png", placeholder)
    result = lle_enhance(low_light["input"], out, "--model", checkpoint)
    assert result.returncode == 0, result.stderr
    assert "skipped a.png" in result.stderr
    np.testing.assert_array_equal(read_image(out / "a.png"), placeholder)
    assert read_image(out / "b.png").shape == (33, 47, 3)

    result = lle_enhance(low_light["input"], out, "--model", checkpoint, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert read_image(out / "a.png").shape == (40, 56, 3)


def test_a_corrupt_file_is_reported_by_name_and_the_others_are_written(checkpoint, low_light):
    (low_light["input"] / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    result = lle_enhance(low_light["input"], low_light["output"], "--model", checkpoint)
    assert result.returncode == 1
    assert "failed broken.png" in result.stderr
    assert sorted(p.name for p in low_light["output"].glob("*.png")) == ["a.png", "b.png"]


def test_inputs_from_a_file_a_folder_or_a_glob(low_light, tmp_path):
    folder = low_light["input"]
    (folder / "notes.txt").write_text("not an image")
    assert find_inputs(str(folder)) == [folder / "a.png", folder / "b.png"]
    assert find_inputs(str(folder / "b.png")) == [folder / "b.png"]
    assert find_inputs(f"{folder}/[a]*") == [folder / "a.png"]
    with pytest.raises(FileNotFoundError):
        find_inputs(str(tmp_path / "nothing_here"))
    with pytest.raises(ValueError, match="not a supported image"):
        find_inputs(str(folder / "notes.txt"))


def test_a_bad_model_fails_before_touching_any_file(low_light, tmp_path):
    result = lle_enhance(low_light["input"], low_light["output"], "--model", tmp_path / "missing.ckpt")
    assert result.returncode == 2 and "missing.ckpt" in result.stderr
    assert not low_light["output"].exists()


def test_raw_files_are_packed_for_raw_models_and_developed_for_srgb_models(tmp_path):
    from lle.data.dng import write_dng

    mosaic = np.full((64, 96), 512 + 100, dtype=np.uint16)  # 100 DN above black
    write_dng(tmp_path / "dark.dng", mosaic, "RGGB", black_level=512, white_level=16383)
    raw_model = SimpleNamespace(
        info=ModelInfo(name="alen", input_kind="raw_bayer", in_channels=4, data_config={"black": 512, "white": 16383})
    )
    packed = read_input(tmp_path / "dark.dng", raw_model, ratio=100)
    assert packed.shape == (4, 32, 48)
    torch.testing.assert_close(packed, torch.full_like(packed, 100 * 100 / (16383 - 512)))
    assert read_input(tmp_path / "dark.dng", raw_model, ratio=300).max() == 1  # clipped, as SID trains
    write_png(tmp_path / "photo.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="give it camera RAW files"):
        read_input(tmp_path / "photo.png", raw_model, ratio=1)

    srgb_model = SimpleNamespace(info=ModelInfo(name="gladnet", input_kind="srgb", in_channels=3))
    developed = read_input(tmp_path / "dark.dng", srgb_model, ratio=1)
    assert developed.shape == (3, 64, 96) and developed.min() >= 0 and developed.max() <= 1


def test_lle_enhance_on_dng_files_with_a_raw_trained_model(tiny_train_cfg, tmp_path):
    from lle.cli.train import train
    from lle.data.synthetic import write_mini_sid_tree

    cfg = tiny_train_cfg(
        "model=alen",
        "test=false",
        "trainer.max_epochs=1",
        data=[
            "data=synthetic_raw",
            "data.num_scenes=3",
            "data.image_size=[64,96]",
            "data.crop_size=16",
            "data.batch_size=2",
            "data.eval_crop_size=16",
        ],
    )
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    write_mini_sid_tree(tmp_path / "sid", n_scenes=1, camera="Sony", size=(64, 96), seed=5)
    shorts = tmp_path / "sid" / "Sony" / "short"
    out = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lle.cli.enhance",
            str(shorts),
            str(out),
            "--model",
            str(ckpt),
            "--ratio",
            "100",
            "--device",
            "cpu",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    written = sorted(out.glob("*.png"))
    assert [p.stem for p in written] == sorted(p.stem for p in shorts.glob("*.dng"))
    assert read_image(written[0]).shape == (64, 96, 3)  # packed 32×48 in, ×2 out: the sensor's full size


@pytest.mark.slow
def test_out_of_memory_names_the_image_and_tiling_fixes_it(checkpoint, tmp_path):
    """A 3000×3000 photograph under a 1.6 GiB address-space limit: too big whole, tiled by itself."""
    import resource

    write_image(tmp_path / "huge" / "big.png", torch.rand(3, 3000, 3000, generator=torch.Generator().manual_seed(0)))

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (int(1.6 * 2**30),) * 2)

    def run(*extra):
        command = [
            sys.executable,
            "-m",
            "lle.cli.enhance",
            tmp_path / "huge",
            tmp_path / "out",
            "--model",
            checkpoint,
            "--device",
            "cpu",
            *extra,
        ]
        return subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=600, preexec_fn=limited)

    whole = run("--tile", "0")  # never tile
    assert whole.returncode == 1, whole.stderr
    assert "failed big.png: out of memory on this image; enhance it in tiles: --tile 512" in whole.stderr
    tiled = run()  # by default it tiles what would not fit, and says so
    assert tiled.returncode == 0, tiled.stderr
    assert "big.png: tiling (512 px, overlap 32): the whole image would need about" in tiled.stderr
    assert read_image(tmp_path / "out" / "big.png").shape == (3000, 3000, 3)


def test_exposure_sets_the_brightness_of_every_output(checkpoint, low_light):
    from lle.data.calibration import mean_luminance

    out = low_light["output"]
    result = lle_enhance(low_light["input"], out, "--model", checkpoint, "--exposure", "0.18")
    assert result.returncode == 0, result.stderr
    for name in ("a.png", "b.png"):
        assert mean_luminance(read_image(out / name) / 255.0) == pytest.approx(0.18, rel=0.05)
    refused = lle_enhance(low_light["input"], out, "--model", checkpoint, "--exposure", "2", "--overwrite")
    assert refused.returncode == 2 and "--exposure is a mean linear luminance in (0, 1)" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_no_output_is_written_onto_a_file_the_command_reads(checkpoint, low_light, tmp_path):
    model = tmp_path / "model.ckpt"
    model.write_bytes(Path(checkpoint).read_bytes())
    original = model.read_bytes()
    common = (low_light["input"], low_light["output"], "--model", model, "--gt", low_light["gt"], "--overwrite")
    result = lle_enhance(*common, "--metrics-csv", model)
    assert result.returncode == 2 and "is a file this command reads" in result.stderr
    assert model.read_bytes() == original and not low_light["output"].exists()


def test_an_output_another_process_wrote_meanwhile_is_kept(checkpoint, low_light, monkeypatch, capsys):
    # Two lle-enhance into one folder: each checks that a.png is free, then enhances; the other publishes first.
    import lle.cli.enhance as cli

    def the_other_process_first(path, image, **options):
        if Path(path).name == "a.png":
            Path(path).write_bytes(b"the other run's a.png")
        return write_image(path, image, **options)

    monkeypatch.setattr(cli, "write_image", the_other_process_first)
    assert cli.main([str(low_light["input"]), str(low_light["output"]), "--model", str(checkpoint)]) == 0
    assert (low_light["output"] / "a.png").read_bytes() == b"the other run's a.png"
    assert read_image(low_light["output"] / "b.png").shape == (33, 47, 3)
    err = capsys.readouterr().err
    assert "skipped a.png" in err and "written meanwhile by another process" in err
    assert "1 enhanced, 1 skipped" in err
