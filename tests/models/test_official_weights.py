"""Official weight files of every network, in the authors' formats, give the official code's outputs.

The fixtures (tests/models/data/official/) were made by running each official repository's own code
(GLADNet and Retinex-Net: TensorFlow 1 graphs via tf.compat.v1; ABSGN, ALEN, MIRNet-v2: PyTorch) on seeded
weights, saving them as the official scripts do (`tf.train.Saver`, `torch.save`) and recording the official
outputs on a fixed input (`*_outputs.npz`). The repository keeps what cannot be regenerated — the TensorFlow
`.index` tables and `checkpoint` files as TensorFlow wrote them, the official key names and shapes of the PyTorch
checkpoints, the fixed wavelet buffers — and each test regenerates the weights from the same seeds. TensorFlow's
data shard is rebuilt byte for byte: the reader checks every tensor against the crc32c TensorFlow stored.
Attention logits were scaled up in the seeds (ALEN's non-local theta/phi, MIRNet-v2's GCNet mask and SKFF), so
that a softmax over the wrong axis would show.
"""

from __future__ import annotations

import csv
import functools
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from lle.inference import load_model
from lle.models import from_official
from lle.models.tf_checkpoint import TFCheckpointError, read_index, read_tf_checkpoint

DATA = Path(__file__).resolve().parent / "data" / "official"
TOLERANCE = 1e-4


# --- regenerating the official-format files ---------------------------------------------------------------


def tf_fixture_value(name: str, shape: list[int], dtype: str) -> np.ndarray:
    """The seeded value the fixture script gave TensorFlow variable `name` (kernels HWIO, He-scaled)."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    if dtype == "int32":
        return torch.randint(1, 100000, shape or [1], generator=g).reshape(shape).numpy().astype(np.int32)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if "AdamOptimizer" in name or name.startswith("beta"):
        std = 1e-3
    elif len(shape) >= 2:
        std = (2.0 / (int(np.prod(shape)) // max(shape[-1], 1))) ** 0.5
    else:
        std = 0.05
    return (x * std).to(torch.float32).numpy()


def write_tf_checkpoint(src: Path, dst: Path, seed_prefix: str = "") -> Path:
    """`dst` as tf.train.Saver wrote it: the stored `checkpoint` and `.index`, and the regenerated data shard."""
    dst.mkdir(parents=True)
    shutil.copy(src / "checkpoint", dst / "checkpoint")
    (index,) = src.glob("*.index")
    shutil.copy(index, dst / index.name)
    _header, entries = read_index(index)
    data = bytearray(max(e["offset"] + e["size"] for e in entries.values()))
    for name, e in entries.items():
        value = tf_fixture_value(seed_prefix + name, e["shape"], "int32" if e["dtype"] == 3 else "float32")
        data[e["offset"] : e["offset"] + e["size"]] = value.astype(value.dtype.newbyteorder("<")).tobytes()
    (dst / (index.stem + ".data-00000-of-00001")).write_bytes(bytes(data))
    return dst


GAIN = {"alen": 0.6, "absgn": 1.0, "mirnet_v2": 0.3}
ATTENTION_SCALES = {
    "alen": [(r"nonlocalblock\.(theta|phi)\.weight$", 4.0)],
    "mirnet_v2": [(r"gcnet\.conv_mask\.weight$", 6.0), (r"skff_\w+\.fcs\.\d+\.weight$", 4.0)],
    "absgn": [],
}


def official_state_dict(name: str) -> dict[str, torch.Tensor]:
    return dict(_official_state_dict(name))  # a new dict: tests add and remove keys


@functools.cache
def _official_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The official PyTorch state dict (key order, names, shapes as stored) with the fixture's seeded values."""
    outputs = np.load(DATA / f"{name}_outputs.npz")
    with (DATA / f"{name}_official_state_dict.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    state = {}
    for row in rows:
        key, shape = row["key"], [int(s) for s in row["shape"].split("x")]
        if f"buffer:{key}" in outputs.files:  # fixed buffers (ABSGN's wavelet filters) as the official code has them
            state[key] = torch.from_numpy(outputs[f"buffer:{key}"])
            continue
        g = torch.Generator().manual_seed(zlib.crc32(f"{name}:{key}".encode()))
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        if len(shape) >= 2:
            std = GAIN[name] * (2.0 / (int(np.prod(shape)) // shape[0])) ** 0.5
        elif int(np.prod(shape)) == 1:  # PReLU slope
            x, std = 0.25 + 0.05 * x, 1.0
        else:
            std = 0.05
        for pattern, scale in ATTENTION_SCALES[name]:
            if re.search(pattern, key):
                std *= scale
        state[key] = (x * std).to(torch.float32)
    return state


def official_outputs(name: str) -> dict[str, np.ndarray]:
    return dict(np.load(DATA / f"{name}_outputs.npz"))


def hwc_to_bchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def assert_matches(net: torch.nn.Module, x: torch.Tensor, expected: np.ndarray) -> None:
    with torch.no_grad():
        y = net(x)[0].float().numpy()
    assert y.shape == expected.shape
    error = np.abs(y - expected).max()
    assert error <= TOLERANCE, f"max |lle − official| = {error:.2e}"
    assert np.abs(expected).mean() > 1e-2  # a non-trivial output


@pytest.fixture(scope="module")
def gladnet_folder(tmp_path_factory) -> Path:
    return write_tf_checkpoint(DATA / "gladnet", tmp_path_factory.mktemp("gladnet") / "model")


@pytest.fixture(scope="module")
def retinexnet_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("retinexnet") / "model"
    for part in ("Decom", "Relight"):
        write_tf_checkpoint(DATA / "retinexnet" / part, root / part, seed_prefix=f"{part}:")
    return root


# --- each network: the official file, loaded through the public interface, gives the official output -----


def test_gladnet_tensorflow_folder_and_prefix(gladnet_folder):
    _header, entries = read_index(gladnet_folder / "GLADNet.index")
    # What tf.train.Saver wrote: 34 network variables, 2 Adam slots each, the beta powers and the step.
    assert len(entries) == 105 and {"beta1_power", "beta2_power", "Variable"} <= set(entries)
    assert entries["Variable"]["dtype"] == 3 and entries["FG/conv2d_12/kernel"]["shape"] == [3, 3, 67, 128]
    ref = official_outputs("gladnet")
    x = hwc_to_bchw(ref["input"])
    model = load_model(f"official:gladnet:{gladnet_folder}")
    assert (model.info.name, model.info.input_kind, model.info.in_channels) == ("gladnet", "srgb", 3)
    assert_matches(model, x, ref["output"].transpose(2, 0, 1))
    # The checkpoint prefix, as tf.train.Saver.restore takes it, loads the same weights.
    by_prefix = from_official("gladnet", gladnet_folder / "GLADNet").state_dict()
    assert all(torch.equal(by_prefix[k], v) for k, v in model.net.state_dict().items())
    # The arrays themselves (TF names and layout, training state included), e.g. from read_tf_checkpoint.
    arrays = from_official("gladnet", read_tf_checkpoint(gladnet_folder)).state_dict()
    assert all(torch.equal(arrays[k], v) for k, v in model.net.state_dict().items())


def test_retinexnet_decom_and_relight_folders(retinexnet_folder):
    ref = official_outputs("retinexnet")
    net = from_official("retinexnet", retinexnet_folder)
    x = hwc_to_bchw(ref["input"])
    with torch.no_grad():
        parts = net.decompose_and_relight(x)
    for ours, theirs in [
        (parts.reflectance, ref["reflectance"]),
        (parts.illumination, ref["illumination"]),
        (parts.relit_illumination, ref["relit_illumination"]),
        (parts.enhanced, ref["output"]),
    ]:
        assert np.abs(ours[0].numpy() - theirs.transpose(2, 0, 1)).max() <= TOLERANCE
    # Each folder also holds the other network (other shapes in Decom, a copy in Relight) and a DenoiseNet.
    _h, decom = read_index(retinexnet_folder / "Decom" / "RetinexNet-tensorflow.index")
    assert decom["RelightNet/shallow_feature_extraction/kernel"]["shape"] == [9, 9, 1, 64]
    assert any(k.startswith("DenoiseNet/") for k in decom)
    loaded = load_model(f"official:retinexnet:{retinexnet_folder}").net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())


def test_retinexnet_decom_alone_gives_the_official_decomposition(retinexnet_folder):
    ref = official_outputs("retinexnet")
    x = hwc_to_bchw(ref["input"])
    for source in (retinexnet_folder, retinexnet_folder / "Decom"):  # the model folder, or Decom/ itself
        decom = from_official("retinexnet_decom", source)
        with torch.no_grad():
            reflectance, illumination = decom(x)
        assert np.abs(reflectance[0].numpy() - ref["reflectance"].transpose(2, 0, 1)).max() <= TOLERANCE
        assert np.abs(illumination[0].numpy() - ref["illumination"].transpose(2, 0, 1)).max() <= TOLERANCE


def test_the_decomposition_picture_script_draws_input_reflectance_and_illumination(retinexnet_folder, tmp_path):
    from PIL import Image

    from conftest import write_png

    write_png(tmp_path / "low.png", np.full((20, 30, 3), 40, np.uint8))
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "retinexnet_decomposition.py"
    done = subprocess.run(
        [
            *(sys.executable, str(script), str(retinexnet_folder / "Decom"), str(tmp_path / "low.png")),
            *("--out", str(tmp_path / "d.png"), "--height", "40"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "reflectance" in done.stdout
    with Image.open(tmp_path / "d.png") as picture:
        assert picture.size == (3 * 60, 40)  # input | reflectance | illumination, each 60×40


def test_absgn_plain_and_dataparallel_state_dicts(tmp_path):
    ref = official_outputs("absgn")
    state = official_state_dict("absgn")
    assert len(state) == 134  # 126 network tensors and pytorch_wavelets' 8 Haar filter buffers
    best = tmp_path / "checkpoint" / "FGNet_params_best.pkl"  # what test.py loads (strict, no prefix)
    best.parent.mkdir()
    torch.save(state, best)
    epoch = tmp_path / "ABSGN_100.pth"  # what train.py saves from its DataParallel model
    torch.save({f"module.{k}": v for k, v in state.items()}, epoch)
    x = torch.from_numpy(ref["input"])[None]
    model = load_model(f"official:absgn:{epoch}")
    assert_matches(model, x, ref["output"])
    plain = from_official("absgn", best).state_dict()
    assert all(torch.equal(plain[k], v) for k, v in model.net.state_dict().items())


def test_alen_state_final_on_packed_raw(tmp_path):
    from lle.data.raw import pack_bayer

    ref = official_outputs("alen")
    state = official_state_dict("alen")
    path = tmp_path / "state_final.pth"
    optimizer = torch.optim.Adam([torch.nn.Parameter(v.clone()) for v in state.values()], lr=1e-4)
    torch.save({"enhance": state, "enhance_optim": optimizer.state_dict(), "epoch": 3999}, path)
    # lle packs the mosaic as the official dataset.py does (black 512, white 16383, planes (0,0) (0,1) (1,1)
    # (1,0), × the exposure ratio, not clipped).
    packed = pack_bayer(ref["mosaic"], pattern="RGGB", black=512, white=16383) * ref["ratio"]
    np.testing.assert_allclose(packed, ref["packed"], rtol=0, atol=1e-6)
    assert packed.max() > 1  # the ratio pushes values above 1, which ALEN is fed unclipped

    net = from_official("alen", path)
    assert isinstance(net.enc1[0], torch.nn.MaxPool2d)  # the released code's variant, read off the keys
    assert_matches(net, torch.from_numpy(ref["packed"])[None], ref["output"])
    model = load_model(f"official:alen:{path}")
    info = model.info
    assert (info.input_kind, info.in_channels, model.net.upscale) == ("raw_bayer", 4, 2)
    assert info.data_config == {"black": 512, "white": 16383, "clip_input": False}
    with pytest.raises(ValueError, match=r"downsample='isl'.*'maxpool' variant"):
        from_official("alen", path, downsample="isl")  # the paper's variant, asked with released-code weights


def test_alen_inverted_shuffle_checkpoints_map_the_phase_order():
    """A checkpoint of the paper variant (the official commented-out `Conv2d(4C, C, 1)` after space_to_depth)."""
    state = official_state_dict("alen")
    generator = torch.Generator().manual_seed(3)
    for i, c in enumerate((32, 64, 128), start=1):
        state[f"layer{i}.0.weight"] = torch.randn(c, 4 * c, 1, 1, generator=generator) / (2 * c)
        state[f"layer{i}.0.bias"] = torch.randn(c, generator=generator) * 0.05
    net = from_official("alen", state)
    x = torch.rand(1, 32, 8, 12, generator=generator)
    h, w = x.shape[-2:]
    official_s2d = torch.cat(
        [x[:, :, 0:h:2, 0:w:2], x[:, :, 0:h:2, 1:w:2], x[:, :, 1:h:2, 1:w:2], x[:, :, 1:h:2, 0:w:2]], 1
    )
    expected = torch.nn.functional.conv2d(official_s2d, state["layer1.0.weight"], state["layer1.0.bias"])
    torch.testing.assert_close(net.enc1[0](x), expected, rtol=1e-5, atol=1e-6)


def test_mirnet_v2_basicsr_params_file(tmp_path):
    ref = official_outputs("mirnet_v2")
    path = tmp_path / "enhancement_lol.pth"
    torch.save({"params": official_state_dict("mirnet_v2")}, path)  # BasicSR's layout, what test.py reads
    assert_matches(load_model(f"official:mirnet_v2:{path}"), torch.from_numpy(ref["input"])[None], ref["output"])


# --- the command lines --------------------------------------------------------------------------------------


def lle_enhance(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lle.cli.enhance", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_lle_enhance_develops_a_dng_with_official_alen_weights(tmp_path):
    from lle.data.dng import write_dng
    from lle.data.io import read_image

    ref = official_outputs("alen")
    path = tmp_path / "state_final.pth"
    torch.save({"enhance": official_state_dict("alen"), "epoch": 1}, path)
    write_dng(tmp_path / "raw" / "scene.dng", ref["mosaic"], "RGGB", black_level=512, white_level=16383)
    done = lle_enhance(
        tmp_path / "raw", tmp_path / "out", "--model", f"official:alen:{path}", "--ratio", ref["ratio"], "--bits", "16"
    )
    assert done.returncode == 0, done.stderr
    written = read_image(tmp_path / "out" / "scene.png").astype(np.float64) / 65535
    expected = np.clip(ref["output"].transpose(1, 2, 0), 0, 1)
    assert np.abs(written - expected).max() <= 1 / 65535 + TOLERANCE


def test_lle_enhance_with_a_gladnet_tensorflow_folder(gladnet_folder, tmp_path):
    from conftest import write_png
    from lle.data.io import read_image, to_float_tensor

    ref = official_outputs("gladnet")
    image = np.round(ref["input"] * 255).astype(np.uint8)
    write_png(tmp_path / "in" / "low.png", image)
    from lle.cli.enhance import main

    assert main([str(tmp_path / "in"), str(tmp_path / "out"), "--model", f"official:gladnet:{gladnet_folder}"]) == 0
    with torch.no_grad():
        expected = from_official("gladnet", gladnet_folder)(to_float_tensor(image)[None])[0]
    expected = np.round(expected.clamp(0, 1).permute(1, 2, 0).numpy() * 255)
    assert np.abs(read_image(tmp_path / "out" / "low.png").astype(np.float64) - expected).max() <= 1


# --- wrong files are named ------------------------------------------------------------------------------------


def test_tensorflow_folders_without_checkpoint_truncated_or_damaged(gladnet_folder, tmp_path):
    with pytest.raises(TFCheckpointError, match="no 'checkpoint' file"):
        from_official("gladnet", tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(gladnet_folder, broken)
    data = broken / "GLADNet.data-00000-of-00001"
    full = data.read_bytes()
    data.write_bytes(full[: len(full) // 2])
    with pytest.raises(TFCheckpointError, match="truncated"):
        from_official("gladnet", broken)
    flipped = bytearray(full)
    _h, entries = read_index(broken / "GLADNet.index")
    flipped[entries["FG/conv2d_3/kernel"]["offset"] + 5] ^= 0x10
    data.write_bytes(bytes(flipped))
    with pytest.raises(TFCheckpointError, match=r"FG/conv2d_3/kernel is damaged"):
        from_official("gladnet", broken)
    index = broken / "GLADNet.index"
    index.write_bytes(index.read_bytes()[:-20])
    with pytest.raises(TFCheckpointError, match=r"truncated|not a TensorFlow checkpoint"):
        from_official("gladnet", broken)
    (broken / "checkpoint").write_text('model_checkpoint_path: "/elsewhere/GLADNet-9000"\n')
    with pytest.raises(TFCheckpointError, match="GLADNet-9000"):
        from_official("gladnet", broken)


def test_a_retinexnet_release_without_relights_data_names_what_still_loads(retinexnet_folder, tmp_path):
    from conftest import write_png

    partial = tmp_path / "model"  # as copies of the release often come: Relight's data shard missing
    shutil.copytree(retinexnet_folder, partial)
    (partial / "Relight" / "RetinexNet-tensorflow.data-00000-of-00001").unlink()
    with pytest.raises(TFCheckpointError, match=r"(?s)data file .* is missing.*official:retinexnet_decom:.*Decom"):
        from_official("retinexnet", partial)
    write_png(tmp_path / "in" / "low.png", np.full((16, 16, 3), 20, np.uint8))
    for model, says in [
        (f"official:retinexnet:{partial}", f"official:retinexnet_decom:{partial / 'Decom'}"),
        (f"official:retinexnet_decom:{partial / 'Decom'}", "returns a decomposition"),  # not an enhancer
    ]:
        done = lle_enhance(tmp_path / "in", tmp_path / "out", "--model", model)
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out" / "low.png").exists()


def test_a_checkpoint_path_written_elsewhere_is_found_in_the_folder(gladnet_folder, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(gladnet_folder, moved)
    # tf.train.Saver writes absolute paths; the released folder may have been written on another machine.
    (moved / "checkpoint").write_text('model_checkpoint_path: "/home/author/GLADNet/model/GLADNet"\n')
    assert from_official("gladnet", moved).encoder[0].weight.shape == (64, 3, 3, 3)


def test_missing_and_unexpected_variables_and_another_networks_weights_are_named(
    gladnet_folder, retinexnet_folder, tmp_path
):
    with pytest.raises(ValueError, match=r"official weights of retinexnet") as error:
        from_official("gladnet", retinexnet_folder / "Decom")
    assert "FG/conv2d/kernel" in str(error.value)  # named as missing
    with pytest.raises(ValueError, match="Decom/ and Relight/"):
        from_official("retinexnet", gladnet_folder)

    state = official_state_dict("absgn")
    for broken, key in [
        ({k: v for k, v in state.items() if k != "MGDB_2.conv4.weight"}, "MGDB_2.conv4.weight"),
        ({**state, "MGDB_2.conv7.weight": torch.zeros(1)}, "MGDB_2.conv7.weight"),
        ({k: v for k, v in state.items() if k != "DWT.h1_row"}, "DWT.h1_row"),
        ({**state, "IDWT.g1_col": -state["IDWT.g1_col"]}, "IDWT.g1_col"),
    ]:
        with pytest.raises(ValueError) as error:
            from_official("absgn", broken)
        assert key in str(error.value)
    with pytest.raises(ValueError, match=r"no counterpart in the official model.*gsa\.act1\.weight"):
        from_official("absgn", state, gsa_act=True)  # the figure's variant: the released code has no such layer
    path = tmp_path / "state_final.pth"
    torch.save({"enhance": official_state_dict("alen")}, path)
    with pytest.raises(ValueError, match="official weights of alen"):
        from_official("absgn", path)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(ValueError, match=r"truncated\.pth is not a readable PyTorch checkpoint"):
        from_official("alen", truncated)


def test_lle_eval_on_a_tensorflow_folder_is_marked_official_in_the_report(retinexnet_folder, tmp_path):
    from conftest import compose_config
    from lle.cli.eval import evaluate
    from lle.report import leaderboard, markdown_table

    cfg = compose_config(
        "eval",
        [
            "trainer=cpu",
            f"model_weights=official:retinexnet:{retinexnet_folder}",
            "data.num_test=1",
            "data.eval_crop_size=32",
            "data.eval_batch_size=1",
            "baselines=false",  # the report would list them too
        ],
        tmp_path / "eval",
    )
    result = evaluate(cfg)
    assert result["status"] == "ok" and result["choice/model"] == "retinexnet" and result["weights"] == "official"
    (row,) = leaderboard([tmp_path / "eval"])
    assert row["weights"] == "official" and row["model"] == "retinexnet"
    assert "| official |" in markdown_table([row])


def test_crc32c_matches_a_bitwise_reference_at_every_length():
    from lle.models.tf_checkpoint import crc32c, unmask_crc

    def reference(data: bytes) -> int:  # CRC-32C (Castagnoli), one bit at a time
        crc = 0xFFFFFFFF
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        return crc ^ 0xFFFFFFFF

    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    for n in (0, 1, 63, 64, 65, 200, 1023, 1024, 1025, 4099, 5000):  # lane and tail boundaries
        assert crc32c(data[:n]) == reference(data[:n])
    masked = (((0x12345678 >> 15) | (0x12345678 << 17)) + 0xA282EAD8) & 0xFFFFFFFF  # LevelDB's mask
    assert unmask_crc(masked) == 0x12345678
