"""Evaluation without ground truth (issue 21): MATLAB's imresize, NIQE, LPIPS, unpaired folders, lle-eval and
lle-report on them. Images are real files written by the tests; NIQE's pristine model is the copy the basicsr
package ships (CI installs it with --no-deps), LPIPS' linear layers the lpips package's, its backbone seeded."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from PIL import Image
from skimage import data as skdata

from conftest import compose_config
from lle.data.io import read_image, to_float_tensor
from lle.data.paired import PairedImageDataModule
from lle.data.unpaired import UnpairedImageDataModule
from lle.metrics import keys
from lle.metrics.evaluation import TestMetrics
from lle.metrics.lpips import LPIPS, AlexNetFeatures, VGG16Features, linear_weights_file
from lle.metrics.matlab_resize import imresize, resize_matrix
from lle.metrics.model_files import MissingModelFile
from lle.metrics.no_reference import mscn, niqe, niqe_model
from lle.models.classical import Gamma
from lle.modules import EnhancementModule
from lle.report.build import write_report
from test_cli import run_cli


def dark_photo(name: str, seed: int = 0) -> np.ndarray:
    """A scikit-image photograph made a noisy low-light capture, 8-bit."""
    x = getattr(skdata, name)()[..., :3] / 255.0
    noisy = 0.15 * x**1.5 + np.random.default_rng(seed).normal(0, 0.01, x.shape)
    return np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)


def as_batch(image: np.ndarray) -> torch.Tensor:
    return to_float_tensor(image)[None]


# --- MATLAB's imresize -------------------------------------------------------------------------------------
def test_matlab_imresize_weights_reproduce_linear_ramps_and_constants():
    m = resize_matrix(40, 20, 0.5)
    assert torch.allclose(m.sum(1), torch.ones(20, dtype=torch.float64))
    ramp = torch.arange(1, 41, dtype=torch.float64)  # 1-based pixel coordinates
    # Keys' cubic reproduces linear functions: away from the mirrored borders the output is the ramp sampled at
    # MATLAB's output centres u = x/scale + 0.5·(1 − 1/scale).
    centres = torch.arange(1, 21, dtype=torch.float64) / 0.5 + 0.5 * (1 - 1 / 0.5)
    assert torch.allclose((m @ ramp)[3:-3], centres[3:-3], atol=1e-12)
    image = torch.full((2, 30, 45), 7.0, dtype=torch.float64)
    out = imresize(image, 0.5)
    assert out.shape == (2, 15, 23) and torch.allclose(out, torch.full_like(out, 7.0))


# --- NIQE ------------------------------------------------------------------------------------------------
def test_niqe_reads_photographs_from_files_and_follows_the_release(tmp_path):
    Image.fromarray(skdata.coffee()[:300, 100:500]).save(tmp_path / "coffee.png")
    Image.fromarray(dark_photo("coffee")[:300, 100:500]).save(tmp_path / "dark.png")
    clean, dark = as_batch(read_image(tmp_path / "coffee.png")), as_batch(read_image(tmp_path / "dark.png"))
    scores = niqe(torch.cat([clean, dark]))
    assert scores.shape == (2,) and scores.dtype == torch.float64
    assert 2 < scores[0] < 6 < scores[1]  # a clean photograph scores far better than its noisy dark capture
    assert torch.equal(niqe(dark), scores[1:])  # per image, whatever the batch
    # Only whole 96×96 blocks count (top-left): pixels past them change nothing.
    h, w = 96 * (clean.shape[-2] // 96), 96 * (clean.shape[-1] // 96)
    assert torch.equal(niqe(clean[..., :h, :w]), scores[:1])
    assert not torch.equal(niqe(clean[..., 1:, 1:]), scores[:1])
    assert not torch.equal(niqe(clean, luma="gray"), scores[:1])


def test_niqe_model_from_the_release_mat_file_and_clear_errors(tmp_path, monkeypatch):
    from scipy.io import savemat

    packaged = niqe_model()
    savemat(tmp_path / "modelparameters.mat", {"mu_prisparam": packaged.mu[None], "cov_prisparam": packaged.cov})
    image = as_batch(dark_photo("chelsea"))
    assert torch.equal(niqe(image, tmp_path / "modelparameters.mat"), niqe(image))
    monkeypatch.setenv("LLE_NIQE_MODEL", str(tmp_path / "absent.mat"))
    with pytest.raises(MissingModelFile, match=r"absent\.mat"):
        niqe_model()
    savemat(tmp_path / "other.mat", {"x": np.zeros(3)})
    with pytest.raises(ValueError, match="not a NIQE pristine model"):
        niqe(image, tmp_path / "other.mat")
    for name, content in (("notes.txt", b"not a model\n"), ("truncated.mat", b"MATLAB 5.0"), ("x.npz", b"PK\x03")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: not a NIQE pristine model \(the authors'"):
            niqe(image, tmp_path / name)
    with pytest.raises(ValueError, match="at least 96x96"):
        niqe(torch.rand(1, 3, 95, 200), packaged)


def test_flat_regions_give_exact_zero_coefficients_and_a_flat_image_scores_nan():
    image = torch.zeros(1, 192, 192, dtype=torch.float64) + 16
    image[:, 100:, 100:] = torch.rand(92, 92, dtype=torch.float64) * 200
    coefficients = mscn(image)
    assert torch.count_nonzero(coefficients[:, :90, :90]) == 0  # not rounding noise whose signs would count
    assert torch.isnan(niqe(torch.full((1, 3, 192, 192), 0.5)))[0]


# --- LPIPS -----------------------------------------------------------------------------------------------
def seeded_backbone_file(path: Path, net: type) -> Path:
    """A torchvision-layout state dict (`features.*` and a classifier LPIPS ignores), seeded weights."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in net().features.state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(4, 4)
    torch.save(state, path)
    return path


def test_lpips_backbones_match_torchvision_layouts_and_load_their_files(tmp_path):
    assert sum(p.numel() for p in AlexNetFeatures().parameters()) == 2_469_696  # torchvision alexnet().features
    assert sum(p.numel() for p in VGG16Features().parameters()) == 14_714_688  # vgg16().features
    model = LPIPS("alex")
    model.load_backbone(seeded_backbone_file(tmp_path / "alexnet-seeded.pth", AlexNetFeatures), check_hash=False)
    model.load_linear(linear_weights_file("alex"))
    assert torch.all(model.linear[0].weight >= 0)  # the calibrated layers, not a fresh initialisation
    x = torch.rand(2, 3, 64, 80)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    d = model(x, y)
    assert d.shape == (2,) and torch.all(d > 0) and torch.allclose(model(y, x), d)
    assert torch.allclose(model(x, x), torch.zeros(2))
    assert torch.all(model(x, (x + 0.3 * torch.randn_like(x)).clamp(0, 1)) > d)  # more distortion, farther
    with pytest.raises(ValueError, match="SHA-256 starts with"):
        model.load_backbone(tmp_path / "alexnet-seeded.pth")  # not torchvision's file
    with pytest.raises(MissingModelFile, match=r"alexnet-owt-7be5be79\.pth"):
        LPIPS.from_files("alex", backbone=tmp_path / "missing.pth")


# --- unpaired folders ---------------------------------------------------------------------------------------
def write_unpaired_set(folder: Path) -> Path:
    (folder / "night").mkdir(parents=True)
    Image.fromarray(dark_photo("coffee")).save(folder / "01.png")
    Image.fromarray(dark_photo("chelsea", 1)[:200, :250]).save(folder / "02.jpg", quality=95)
    Image.fromarray(dark_photo("rocket", 2)[:192, :300]).save(folder / "night" / "03.bmp")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_unpaired_folders_flat_or_recursive_and_presets_as_distributed(tmp_path):
    root = write_unpaired_set(tmp_path / "photos")
    flat = UnpairedImageDataModule(root=str(root))
    flat.setup("test")
    assert [flat.test_set[i]["name"] for i in range(len(flat.test_set))] == ["01", "02"]
    assert "target" not in flat.test_set[0] and flat.test_set[1]["input"].shape == (3, 200, 250)
    deep = UnpairedImageDataModule(root=str(root), recursive=True, eval_crop_size=96)
    deep.setup("test")
    assert deep.test_set.names == ["01", "02", "night__03"] and deep.test_set[2]["input"].shape == (3, 96, 96)
    with pytest.raises(ValueError, match="lle-eval"):
        flat.setup("fit")
    with pytest.raises(FileNotFoundError, match="no images"):
        UnpairedImageDataModule(root=str(tmp_path / "photos" / "night" / "none"))
    # The LIME preset reads Zero-DCE's layout (test_data/LIME/) from the folder above it, and LIME/ itself.
    lime = tmp_path / "datasets" / "test_data" / "LIME"
    lime.mkdir(parents=True)
    Image.fromarray(dark_photo("coffee")[:120, :160]).save(lime / "1.bmp")
    for given in (tmp_path / "datasets", lime):
        cfg = compose_config("eval", ["data=lime", f"data.root={given}"], tmp_path / "out")
        module = instantiate(cfg.data)
        assert module.folder == lime.resolve() and module.name == "lime" and not module.paired


def test_paired_test_with_niqe_and_a_seeded_lpips(tmp_path):
    for split in ("train", "test"):
        for side in ("low", "high"):
            (tmp_path / split / side).mkdir(parents=True)
    for i, name in enumerate(["coffee", "chelsea"]):
        high = getattr(skdata, name)()[:192, :192, :3]
        for split in ("train", "test"):
            Image.fromarray(high).save(tmp_path / split / "high" / f"{i}.png")
            Image.fromarray((high * 0.2).astype(np.uint8)).save(tmp_path / split / "low" / f"{i}.png")
    folders = {f"{s}_{side}": str(tmp_path / s / side) for s in ("train", "test") for side in ("low", "high")}
    datamodule = PairedImageDataModule(**folders, num_val=1, crop_size=None)
    module = EnhancementModule(Gamma())
    metrics = TestMetrics(paired=True, niqe=True)
    lpips = LPIPS("alex")
    lpips.load_backbone(seeded_backbone_file(tmp_path / "alex.pth", AlexNetFeatures), check_hash=False)
    lpips.load_linear(linear_weights_file("alex"))
    metrics.lpips = lpips
    module.extra_test_metrics = metrics
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    assert {keys.TEST_PSNR, keys.TEST_SSIM, keys.TEST_NIQE, keys.TEST_LPIPS} <= set(logged)
    rows = module.test_results
    assert [r["name"] for r in rows] == ["0", "1"] and all(keys.NIQE in r and keys.LPIPS in r for r in rows)
    assert logged[keys.TEST_NIQE] == pytest.approx(np.mean([r[keys.NIQE] for r in rows]), rel=1e-6)
    assert set(metrics.protocol()) == {"protocol/niqe", "protocol/lpips"}
    with pytest.raises(ValueError, match="unpaired"):
        TestMetrics(paired=False, lpips="alex")
    # An image too small for NIQE's blocks is named.
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.fromarray(dark_photo("coffee")[:64, :300]).save(tiny / "small.png")
    module.extra_test_metrics = TestMetrics(paired=False)
    with pytest.raises(ValueError, match=r"small: NIQE needs images of at least 96x96"):
        trainer.test(module, datamodule=UnpairedImageDataModule(root=str(tiny)), verbose=False)


def test_lle_eval_on_an_unpaired_folder_then_lle_report(tmp_path):
    root = write_unpaired_set(tmp_path / "photos")
    (root / "broken.jpg").write_bytes(b"not a photograph")  # named and left out, not the end of the evaluation
    run = tmp_path / "eval_run"
    args = [sys.executable, "-m", "lle.cli.eval", "trainer=cpu", "model=gamma", "data=unpaired"]
    run_cli([*args, f"data.root={root}", "data.recursive=true", "data.num_workers=0", f"hydra.run.dir={run}"], tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["paired"] is False
    assert len(metrics["skipped"]) == 1 and metrics["skipped"][0].startswith(f"{root / 'broken.jpg'}: ")
    assert metrics["split_sizes"]["test"] == 3
    assert keys.TEST_NIQE in metrics and keys.TEST_PSNR not in metrics and "protocol/niqe" in metrics
    with open(run / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["01", "02", "night__03"] and set(rows[0]) == {"name", keys.NIQE}
    assert metrics[keys.TEST_NIQE] == pytest.approx(np.mean([float(r[keys.NIQE]) for r in rows]), rel=1e-6)
    grid = read_image(run / "images" / "test_grid.png")
    # Three rows of input | output, each scaled to the first row's 400 px height (03: 300×192 → 625×400).
    assert grid.shape == (3 * 400, 2 * 625, 3)

    write_report([run], tmp_path / "report")  # lle-report's library call (the command is tested in test_sweeps)
    table = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "NIQE ↓" in table and f"{metrics[keys.TEST_NIQE]:.4f}" in table and "lle standard" in table
    page = (tmp_path / "report" / "index.html").read_text()
    assert "(input | output)" in page and "grids/001_eval_run.png" in page
