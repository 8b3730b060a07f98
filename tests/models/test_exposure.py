"""Exposure normalisation: the network never sees how dark the capture was, and tiles share the gain."""

import numpy as np
import pytest
import torch
import torch.nn as nn

import lle
from lle.inference import enhance_tiled
from lle.models.exposure import ExposureNormalized, linear_to_srgb, match_exposure, mean_luminance, srgb_to_linear


def photo(name: str = "coffee") -> torch.Tensor:
    from lle.data.synthetic import seed_images

    image = seed_images()[name][:96, :160]
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255


class LocalNet(nn.Module):
    """A small convolutional network (no global operation of its own)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def test_match_exposure_sets_the_mean_linear_luminance():
    x = photo() * 0.2
    out = match_exposure(x, 0.1)
    assert float(mean_luminance(srgb_to_linear(out))) == pytest.approx(0.1, rel=0.01)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)


def test_the_network_sees_the_same_input_however_dark_the_capture():
    net = ExposureNormalized(LocalNet(), exposure=0.25).eval()
    bright = photo()
    darker = linear_to_srgb(srgb_to_linear(bright) / 12)  # the same scene ×12 darker in linear light
    with torch.no_grad():
        assert torch.allclose(net(bright), net(darker), atol=2e-3)
        # Unwrapped, the network's output follows the darkness of its input.
        assert (net.net(bright) - net.net(darker)).abs().mean() > 0.1


def test_tiles_share_the_whole_images_gain():
    net = ExposureNormalized(LocalNet(), exposure=0.25).eval()
    x = photo()
    x[..., :, :40] *= 0.05  # very uneven brightness: a tile's own mean would give it another gain
    with torch.no_grad():
        whole = net(x)
        tiled = enhance_tiled(net, x, tile=64, overlap=16)
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_raw_networks_pass_through_and_the_wrapper_declares_the_networks_input():
    class PackedNet(LocalNet):
        in_channels, input_kind, upscale, size_multiple = 4, "raw_bayer", 2, 8

    wrapped = ExposureNormalized(PackedNet())
    assert (wrapped.in_channels, wrapped.input_kind, wrapped.upscale, wrapped.size_multiple) == (4, "raw_bayer", 2, 8)
    assert not wrapped.normalizes
    with pytest.raises(ValueError, match="mean linear luminance"):
        ExposureNormalized(LocalNet(), exposure=1.5)


def test_enhance_sets_the_output_exposure_for_any_network():
    image = (photo()[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    out = lle.enhance(LocalNet().eval(), image, tile=None, exposure=0.18)
    assert float(mean_luminance(srgb_to_linear(torch.from_numpy(out / 255.0)).permute(2, 0, 1)[None])) == (
        pytest.approx(0.18, rel=0.03)
    )
    with pytest.raises(ValueError, match="mean linear luminance"):
        lle.enhance(LocalNet().eval(), image, exposure=0)


def test_the_normalised_network_exports_with_dynamic_sizes(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from lle.export import export_onnx, export_torchscript

    plain = ExposureNormalized(LocalNet(), exposure=0.25).eval()
    gated = ExposureNormalized(FourChannelNet(0.5), exposure=0.25, blend=True, noise_gate=(2.5, 5.0)).eval()
    clean, partly_noisy = photo("flower") * 0.1, photo("flower") * 0.1 + 0.0006 * torch.randn(1, 3, 96, 160)
    for name, net in (("plain", plain), ("gated", gated)):
        export_onnx(net, tmp_path / f"{name}.onnx")
        export_torchscript(net, tmp_path / f"{name}.pt")
        session = onnxruntime.InferenceSession(str(tmp_path / f"{name}.onnx"))
        scripted = torch.jit.load(str(tmp_path / f"{name}.pt"))
        for x in (photo()[..., :37, :51] * 0.1, photo() * 0.3, clean, partly_noisy):
            with torch.no_grad():
                expected = net(x)
            onnx_out = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
            assert torch.allclose(onnx_out, expected, atol=1e-4)
            assert torch.allclose(scripted(x), expected, atol=1e-4)


class FourChannelNet(LocalNet):
    """LocalNet's RGB and a constant fourth channel `weight`: the blend weight ExposureNormalized reads."""

    out_channels = 4

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def forward(self, x):
        return torch.cat([super().forward(x), torch.full_like(x[:, :1], self.weight)], dim=1)


@pytest.mark.parametrize("weight, trust", [(0.0, 0.0), (1.0, 0.5), (3.0, 0.75), (-2.0, 0.0)])
def test_blend_mixes_the_reexposed_input_and_the_prediction_by_the_networks_weight(weight, trust):
    net = ExposureNormalized(FourChannelNet(weight), exposure=0.25, blend=True).eval()
    x = photo() * 0.1
    with torch.no_grad():
        reexposed = match_exposure(x, 0.25)
        prediction = LocalNet()(reexposed)
        expected = trust * reexposed + (1 - trust) * prediction
        assert torch.allclose(net(x), expected, atol=1e-6)
        # Per pixel: tiles give the whole image's output.
        assert torch.allclose(enhance_tiled(net, x, tile=64, overlap=16), net(x), atol=1e-5)


def test_blend_needs_a_fourth_channel_and_uses_the_prediction_alone_on_raw_input():
    from lle.models.alen import ALEN

    with pytest.raises(ValueError, match=r"must return 4 .*returns 3"):
        ExposureNormalized(LocalNet(), blend=True)
    with pytest.raises(ValueError, match=r"must return 3 .*returns 4"):
        ExposureNormalized(FourChannelNet(1.0))
    raw = ExposureNormalized(ALEN(in_channels=4, out_channels=4), blend=True).eval()
    packed = torch.rand(1, 4, 16, 24) * 0.05
    with torch.no_grad():
        assert torch.equal(raw(packed), raw.net(packed)[:, :3])  # no gain, no blend; shape 1×3×32×48
    with pytest.raises(ValueError, match="out_channels"):
        ALEN(in_channels=3, srgb_input=True, out_channels=2)
    net = ExposureNormalized(ALEN(in_channels=3, srgb_input=True, out_channels=4), blend=True).eval()
    with torch.no_grad():
        out = net(photo()[..., :40, :56] * 0.1)  # not a multiple of 16: padded and cropped back
    assert out.shape == (1, 3, 40, 56)


def test_noise_sigma_reads_the_noise_added_to_a_photograph():
    from lle.models.noise_level import noise_sigma

    x = match_exposure(photo("flower"), 0.3)
    clean = float(noise_sigma(x))
    generator = torch.Generator().manual_seed(0)
    for sigma in (4.0, 12.0):  # 8-bit codes, the same in every channel: luma's σ is the same
        noisy = x + sigma / 255 * torch.randn(x.shape[-2:], generator=generator)
        # Noise and texture add in quadrature (the photograph's own reading is its texture).
        assert float(noise_sigma(noisy)) == pytest.approx((sigma**2 + clean**2) ** 0.5, rel=0.1)
    assert clean < 2.0


def test_noise_gate_keeps_a_clean_input_and_leaves_a_noisy_one_to_the_network():
    from lle.models.noise_level import noise_sigma

    net = ExposureNormalized(FourChannelNet(0.0), exposure=0.25, blend=True, noise_gate=(2.5, 5.0)).eval()
    ungated = ExposureNormalized(FourChannelNet(0.0), exposure=0.25, blend=True).eval()
    clean = photo("flower") * 0.1  # an embedded photograph darkened without noise: re-exposed, it reads 1.4 codes
    noisy = clean + 0.02 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # Trust 1: the re-exposed input itself, whatever the network predicts (here it trusts nothing).
        assert torch.allclose(net(clean), match_exposure(clean, 0.25), atol=1e-6)
        # A noisy input (σ ≈ 20 codes once re-exposed): no floor, the network's own blend.
        assert torch.allclose(net(noisy), ungated(noisy), atol=1e-6)
        # Between the bounds the floor is partial, and shared by the tiles of one image.
        halfway = clean + 0.0006 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
        assert 2.5 < float(noise_sigma(match_exposure(halfway, 0.25))) < 5.0
        out = net(halfway)
        assert not torch.allclose(out, match_exposure(halfway, 0.25), atol=1e-3)
        assert not torch.allclose(out, ungated(halfway), atol=1e-3)
        assert torch.allclose(enhance_tiled(net, halfway, tile=64, overlap=16), out, atol=1e-5)
        # Training learns from every sample: no floor there.
        net.train(), ungated.train()
        assert torch.allclose(net(clean), ungated(clean), atol=1e-6)


def test_noise_gate_needs_the_blend_and_ordered_bounds():
    with pytest.raises(ValueError, match="needs blend=true"):
        ExposureNormalized(LocalNet(), noise_gate=(2.5, 5.0))
    with pytest.raises(ValueError, match=r"0 ≤ low < high .*\[5.0, 2.5\]"):
        ExposureNormalized(FourChannelNet(1.0), blend=True, noise_gate=(5.0, 2.5))
