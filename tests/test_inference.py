"""`lle.inference`: load a trained checkpoint alone, enhance numpy/torch images, tiles and self-ensemble."""

import numpy as np
import pytest
import torch
import torch.nn as nn

import lle.models
from conftest import make_pair
from lle.inference import Enhancer, blend_window, enhance, enhance_tiled, load_model, self_ensemble, tile_starts
from lle.metrics import psnr
from lle.runs.checkpoint import load_lle_checkpoint


def local_network(upscale: int = 1) -> nn.Module:
    """A purely convolutional network: receptive field of 11 px, far inside the default 32 px overlap."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()]
    layers += [nn.Conv2d(16, 3 * upscale**2, 1), nn.PixelShuffle(upscale), nn.Sigmoid()]
    return nn.Sequential(*layers).eval()


def smooth_image(height: int, width: int) -> torch.Tensor:
    _, high = make_pair(np.random.default_rng(0), height, width)
    return torch.from_numpy(high).permute(2, 0, 1)[None].float() / 255


def test_load_model_rebuilds_the_trained_network_from_the_checkpoint_alone(checkpoint):
    model = load_model(checkpoint, channels_last=False)  # the layout the reference runs in: equal bits
    assert isinstance(model, Enhancer) and not model.training and not model.net.training
    assert model.info.name == "gladnet" and model.info.input_kind == "srgb" and model.info.in_channels == 3
    assert model.info.data_name == "synthetic" and "protocol/psnr" in model.info.protocol
    reference, _ = load_lle_checkpoint(checkpoint)
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.equal(model(x), reference.net.eval()(x))


@pytest.mark.parametrize("prefix", ["_orig_mod.", "net._orig_mod."], ids=["compiled-module", "compiled-net"])
def test_checkpoints_saved_from_compiled_modules_load(checkpoint, tmp_path, prefix):
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state["state_dict"] = {
        (prefix + key if prefix == "_orig_mod." else key.replace("net.", prefix, 1)): value
        for key, value in state["state_dict"].items()
    }
    assert all("_orig_mod." in key for key in state["state_dict"] if key.startswith(("net", "_orig")))
    torch.save(state, tmp_path / "compiled.ckpt")
    x = torch.rand(1, 3, 33, 47)
    assert torch.equal(load_model(tmp_path / "compiled.ckpt")(x), load_model(checkpoint)(x))


def test_wrong_sources_fail_clearly(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ValueError, match="not an lle checkpoint"):
        load_model(tmp_path / "foreign.ckpt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match="official:<name>:<path>"):
        load_model("official:mirnet")
    with pytest.raises(ValueError, match="no importer"):
        load_model(f"official:no_such_model:{tmp_path / 'weights.pth'}")


def test_channels_last_only_where_it_was_measured_faster():
    from lle.models.adapters import PackedRawAdapter
    from lle.models.complexity import prefers_channels_last

    assert prefers_channels_last(lle.models.build("gladnet", global_channels=8, detail_channels=8))
    assert not prefers_channels_last(lle.models.build("gamma"))  # nothing to convert
    mirnet_v2 = lle.models.build("mirnet_v2", n_feat=16)  # grouped convolutions: slower in channels_last
    assert not prefers_channels_last(mirnet_v2)
    assert not prefers_channels_last(PackedRawAdapter(mirnet_v2, in_channels=4, upscale=2))  # wrapped for RAW input
    assert not Enhancer(mirnet_v2).channels_last


def test_options_channels_last_bf16_and_compile(checkpoint):
    x = torch.rand(1, 3, 40, 56)
    plain = load_model(checkpoint, channels_last=False)(x)
    default = load_model(checkpoint)
    assert default.channels_last  # a network with convolutions: channels_last by default (docs/benchmarks.md)
    assert (default(x) - plain).abs().max() < 1e-5  # another summation order, the same numbers
    fast = load_model(checkpoint, channels_last=True, bf16=True)
    assert fast(x).dtype == torch.float32
    assert (fast(x) - plain).abs().max() < 0.05  # bfloat16 keeps ~3 significant digits
    compiled = load_model(checkpoint, compile=True)
    assert type(compiled.net).__name__ == "OptimizedModule"


@pytest.mark.slow
def test_compiled_model_gives_the_eager_numbers(checkpoint):
    """torch.compile really runs (inductor builds C++ kernels with the machine's compiler): same numbers."""
    x = torch.rand(1, 3, 40, 56)
    eager = load_model(checkpoint)(x)
    compiled = load_model(checkpoint, compile=True)(x)
    assert (compiled - eager).abs().max() < 1e-4


def test_enhance_returns_the_kind_it_is_given(checkpoint):
    model = load_model(checkpoint)
    rng = np.random.default_rng(1)
    image8 = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out8 = enhance(model, image8)
    assert out8.dtype == np.uint8 and out8.shape == (37, 53, 3)
    as_float = enhance(model, image8.astype(np.float32) / 255)
    assert as_float.dtype == np.float32 and as_float.shape == (37, 53, 3)
    np.testing.assert_array_equal(out8, np.round(np.clip(as_float, 0, 1) * 255).astype(np.uint8))
    out16 = enhance(model, image8.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16 and out16.shape == (37, 53, 3)

    chw = torch.rand(3, 37, 53)
    assert enhance(model, chw).shape == (3, 37, 53)
    batch = enhance(model, torch.rand(2, 3, 37, 53, dtype=torch.float64))
    assert batch.shape == (2, 3, 37, 53) and batch.dtype == torch.float64
    as_uint8 = enhance(model, torch.from_numpy(image8).permute(2, 0, 1))
    assert as_uint8.dtype == torch.uint8 and torch.equal(as_uint8.permute(1, 2, 0), torch.from_numpy(out8))
    with pytest.raises(ValueError, match="H×W×C"):
        enhance(model, image8[..., 0])


def test_blend_windows_are_a_partition_of_unity_across_an_overlap():
    overlap = 32
    falling, rising = blend_window(128, overlap, False, True), blend_window(128, overlap, True, False)
    torch.testing.assert_close(falling[-overlap:] + rising[:overlap], torch.ones(overlap))
    assert falling[0] == 1 and rising[-1] == 1
    assert falling[-overlap // 4 :].eq(0).all()  # the outer quarter, where a tile lacks context, has no weight
    assert tile_starts(512, 192, 32) == [0, 160, 320]
    assert tile_starts(100, 192, 32) == [0]


@pytest.mark.parametrize("upscale", [1, 2])
def test_tiled_equals_untiled_for_a_local_network(upscale):
    net, x = local_network(upscale), smooth_image(512, 512)
    with torch.no_grad():
        whole = net(x)
    tiled = enhance_tiled(net, x, tile=192)  # default overlap
    assert tiled.shape == whole.shape
    assert float(psnr(tiled, whole)) >= 45


def test_tiles_smaller_than_the_image_run_the_trained_network(checkpoint):
    model = load_model(checkpoint)
    x = smooth_image(100, 140)
    tiled = enhance(model, x, tile=64, overlap=16)
    assert tiled.shape == x.shape and torch.isfinite(tiled).all()


def test_self_ensemble_averages_the_eight_dihedral_transforms(checkpoint):
    model = load_model(checkpoint)
    image = torch.rand(3, 37, 53)
    out = enhance(model, image, self_ensemble=True)
    assert out.shape == (3, 37, 53)
    assert enhance(model, image, self_ensemble=True, tile=32, overlap=8).shape == (3, 37, 53)
    # A per-pixel network commutes with every flip and rotation, so its ensemble is itself.
    pointwise = nn.Conv2d(3, 3, 1).eval()
    x = torch.rand(1, 3, 21, 34)
    with torch.no_grad():
        torch.testing.assert_close(self_ensemble(pointwise, x), pointwise(x))


def test_official_weights_load_through_the_official_prefix(tmp_path):
    from lle.models.mirnet import MIRNet
    from lle.models.official import _mirnet_official_keys

    # An official-layout file written from an lle network: each lle tensor under its official name(s).
    torch.manual_seed(0)
    reference = MIRNet().eval()
    official_keys = _mirnet_official_keys(reference)
    state = {key: tensor.clone() for name, tensor in reference.state_dict().items() for key in official_keys(name)}
    torch.save({"epoch": 1, "state_dict": state}, tmp_path / "model_enhancement.pth")

    model = load_model(f"official:mirnet:{tmp_path / 'model_enhancement.pth'}")
    assert model.info.name == "mirnet" and model.info.input_kind == "srgb"
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
