"""The notebooks run top to bottom on the checkpoints they train, show something, and leave nothing behind.

This is the notebooks' only run in the test suite (pytest does not collect them with nbmake as well): each is
executed once, with a check cell inserted before its clean-up cell, in a temporary folder of its own (TMPDIR).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbclient
import nbformat
import pytest
from omegaconf import OmegaConf

from lle.demo_runs import DEMO_RECIPES, demo_config, quoted, train_demo_sweep

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# Run in each notebook's kernel after its figures: what the figures show comes from trained networks. The
# demonstration models of 0.2 (8 steps each) failed every check: ALEN's output was one colour (5.8 dB at every
# exposure ratio), MIRNet gave its input back (gains under 0.02 dB) with maps within 0.007 of 0.5, ALEN's attention
# rows were equal to 1e-5, GLADNet scored 0.3 dB over the input.
CHECKS = {
    "inspect_model.ipynb": """
dark = np.array(RATIOS) >= 20  # a brief training brightens too much at the lowest ratios
for name, values in results.items():
    gain = np.array(values) - np.array(results["input"])
    assert name == "input" or gain[dark].mean() > 2, f"{name} gains {gain} dB over the input"
assert max(float(m.max() - m.min()) for m in maps.values()) > 0.03, "MIRNet's attention maps are flat"
assert spread > 1e-3, f"ALEN's attention rows are all alike ({spread})"
rows = [relative[row * qw + col] for row, col in picks.values()]
assert not torch.allclose(rows[0], rows[1], atol=spread / 4), "two pixels' attention maps are the same"
""",
    "compare_checkpoints.ipynb": """
input_psnr = next(r["test/psnr"] for r in rows if r["model"] == "input")
networks = [r for r in finished if r.get("checkpoint_best")]
assert networks, "no network in the sweep"
for r in networks:
    assert r["test/psnr"] > input_psnr + 2, f"{r['label']}: {r['test/psnr']} dB, the input {input_psnr} dB"
    spatial = [float(image.std(dim=(-2, -1)).mean()) for image in outputs[r["label"]]]
    assert min(spatial) > 0.02, f"{r['label']}'s output is nearly flat: {spatial}"
""",
}


def with_check(notebook, check: str):
    """`notebook` with a code cell of `check` before its clean-up cell (the last, where there is one)."""
    cells = notebook.cells
    at = next((i for i, c in enumerate(cells) if "workspace.cleanup()" in c.source), len(cells))
    cells.insert(at, nbformat.v4.new_code_cell(check))
    return notebook


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_shows_trained_models_and_cleans_up(name, tmp_path, monkeypatch):
    beside = sorted(os.listdir(NOTEBOOKS))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the kernel's and lle-train's temporary folder
    # torch's compile cache ({TMPDIR}/torchinductor_{user}, made by importing Lightning) is shared by every torch
    # program, not the notebook's to remove.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "torch_cache"))
    notebook = with_check(nbformat.read(NOTEBOOKS / name, as_version=4), CHECKS[name])
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    assert sorted(os.listdir(temp)) == []
    assert sorted(os.listdir(NOTEBOOKS)) == beside  # no logs/ or outputs/ where the notebook runs


def test_demo_config_is_the_model_with_its_recipe():
    config = OmegaConf.create(demo_config("mirnet").split("\n", 1)[1])
    assert demo_config("mirnet").startswith("# @package _global_\n")
    assert list(config.defaults) == [{"override /model": "mirnet"}, "_self_"]
    assert config.model.net.n_feat == DEMO_RECIPES["mirnet"]["model"]["net"]["n_feat"]
    assert list(OmegaConf.create(demo_config("gamma").split("\n", 1)[1])) == ["defaults"]  # a classical method as is


def test_quoted_keeps_a_path_one_hydra_value():
    assert quoted("/a/b=c,d") == "'/a/b=c,d'"
    assert quoted("/it's") == '"/it\'s"'
    with pytest.raises(ValueError, match="both kinds of quotes"):
        quoted("""/'"'""")


def test_demo_sweep_reuses_finished_runs(tmp_path, monkeypatch):
    for model in ("gamma", "alen"):
        (tmp_path / model).mkdir()
        (tmp_path / model / "metrics.json").write_text("{}")
    monkeypatch.setattr("lle.demo_runs.run_lle_train", lambda *a, **k: pytest.fail("trained again"))
    assert train_demo_sweep(tmp_path, ["gamma", "alen"]) == {"gamma": tmp_path / "gamma", "alen": tmp_path / "alen"}
