"""Classical baselines (lle.models.classical) on a real photograph darkened, and on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from hydra.utils import instantiate
from kornia.color import rgb_to_ycbcr
from skimage import data

import lle.models
from conftest import compose_config
from lle.cli.eval import evaluate
from lle.models.adapters import PackedRawDevelopment
from lle.models.classical import CLAHE, LIME, Dong2011, Gamma, HistogramEqualization, min_filter

CONFIGS = {
    "dong2011": Dong2011,
    "gamma": Gamma,
    "he": HistogramEqualization,
    "clahe": CLAHE,
    "lime": LIME,
}


@pytest.fixture(scope="module")
def dark_coffee() -> torch.Tensor:
    """skimage's coffee at a quarter resolution, odd-sized (99×149), made dark as a low-light shot."""
    rgb = data.coffee()[::4, ::4][:99, :149].astype(np.float64) / 255.0
    dark = (rgb**2.2) * 0.15
    return torch.from_numpy(dark).permute(2, 0, 1)[None].float()


@pytest.fixture(params=sorted(CONFIGS))
def name(request) -> str:
    return request.param


def test_build_from_config(name):
    net = lle.models.build(name)
    assert type(net) is CONFIGS[name]
    assert name in lle.models.available()
    assert net.size_multiple == 1
    assert sum(p.numel() for p in net.parameters()) == 0
    assert lle.models.model_config(name).optimizer is None


def test_shape_range_and_brighter(name, dark_coffee):
    net = lle.models.build(name)
    out = net(dark_coffee)
    assert out.shape == dark_coffee.shape
    assert out.dtype == dark_coffee.dtype
    assert torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    # CLAHE's clip limit of 2 brightens the least (about 1.9× here); the others 5-15×.
    assert out.mean() > 1.5 * dark_coffee.mean()


@pytest.mark.parametrize("value", [0.0, 0.05, 1.0])
def test_constant_image(name, value):
    x = torch.full((1, 3, 13, 17), value)
    out = lle.models.build(name)(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    # A flat image stays flat: no method invents structure.
    assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (2, 5), (7, 11)])
def test_tiny_images(name, size):
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)) * 0.2
    out = lle.models.build(name)(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_batch_equals_singles(name, dark_coffee):
    net = lle.models.build(name)
    other = dark_coffee.flip(-1) * 0.5  # a different image: per-image statistics must not mix
    batch = net(torch.cat([dark_coffee, other]))
    torch.testing.assert_close(batch[:1], net(dark_coffee), atol=1e-5, rtol=0)
    torch.testing.assert_close(batch[1:], net(other), atol=1e-5, rtol=0)


# --- Dong 2011 --------------------------------------------------------------------------------------------


def test_min_filter_keeps_size_and_clips_window_at_border():
    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    out = min_filter(x, 3)
    assert out.shape == x.shape
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 3, 4] == x[0, 0, 2, 3]
    assert torch.equal(min_filter(x, 1), x)


def _inverted_case() -> torch.Tensor:
    """R (inverted image) on a 4×4 grid: background [0.5, 0.6, 0.7], two candidate pixels for A.

    p1 = (1, 1): R = [0.9, 0.9, 0.9], highest dark channel (0.9), intensity 0.9.
    p2 = (2, 3): R = [0.85, 1.0, 1.0], second dark channel (0.85), higher intensity (0.95).
    """
    r = torch.tensor([0.5, 0.6, 0.7]).view(1, 3, 1, 1).repeat(1, 1, 4, 4)
    r[0, :, 1, 1] = torch.tensor([0.9, 0.9, 0.9])
    r[0, :, 2, 3] = torch.tensor([0.85, 1.0, 1.0])
    return r


def test_dong_atmospheric_light_by_hand():
    r = _inverted_case()
    # One candidate (floor(16 · 0.1) = 1): the highest dark channel, p1.
    a = Dong2011(patch_size=1, top_fraction=0.1).atmospheric_light(r)
    torch.testing.assert_close(a.flatten(), torch.tensor([0.9, 0.9, 0.9]))
    # Two candidates (16 · 0.125 = 2): p1 and p2; p2 has the higher intensity.
    a = Dong2011(patch_size=1, top_fraction=0.125).atmospheric_light(r)
    assert a.shape == (1, 3, 1, 1)
    torch.testing.assert_close(a.flatten(), torch.tensor([0.85, 1.0, 1.0]))


def test_dong_output_by_hand():
    r = _inverted_case()
    x = 1 - r
    a = torch.tensor([0.85, 1.0, 1.0])  # from test_dong_atmospheric_light_by_hand
    # Background: min_c R_c / A_c = min(0.5/0.85, 0.6, 0.7) = 0.5/0.85.
    t_plain = 1 - 0.8 * 0.5 / 0.85  # 0.5294 > 0.5: the tweak leaves it
    background = torch.tensor([0.5, 0.6, 0.7])
    for tweak in (True, False):
        net = Dong2011(patch_size=1, top_fraction=0.125, dong_tweak=tweak)
        out = net(x)
        expected = (1 - ((background - a) / t_plain + a)).clamp(0, 1)
        torch.testing.assert_close(out[0, :, 0, 0], expected)
    # p1: ratio min(0.9/0.85, 0.9, 0.9) = 0.9, t = 0.28 < 0.5 → 2 · 0.28² = 0.1568 with the tweak.
    p1 = torch.tensor([0.9, 0.9, 0.9])
    for tweak, t in ((True, 2 * 0.28**2), (False, 0.28)):
        out = Dong2011(patch_size=1, top_fraction=0.125, dong_tweak=tweak)(x)
        torch.testing.assert_close(out[0, :, 1, 1], (1 - ((p1 - a) / t + a)).clamp(0, 1))
    # t0 bounds the division: with t0 = 0.5 the tweaked p1 uses 0.5.
    out = Dong2011(patch_size=1, top_fraction=0.125, t0=0.5)(x)
    torch.testing.assert_close(out[0, :, 1, 1], (1 - ((p1 - a) / 0.5 + a)).clamp(0, 1))


def test_dong_patch_spreads_transmission():
    r = _inverted_case()
    a = torch.tensor([0.85, 1.0, 1.0]).view(1, 3, 1, 1)
    # Patch 1: p1's own ratio 0.9 gives t = 1 - 0.8 · 0.9 = 0.28 → 2 · 0.28².
    t = Dong2011(patch_size=1).transmission(r, a)
    torch.testing.assert_close(t[0, 0, 1, 1], torch.tensor(2 * 0.28**2))
    # Patch 3: every window holds a background pixel (ratio 0.5 / 0.85), so t is the background's everywhere.
    t = Dong2011(patch_size=3).transmission(r, a)
    torch.testing.assert_close(t, torch.full_like(t, 1 - 0.8 * 0.5 / 0.85))


def test_dong_options():
    with pytest.raises(ValueError):
        Dong2011(patch_size=0)
    with pytest.raises(ValueError):
        Dong2011(top_fraction=0.0)
    net = lle.models.build("dong2011", omega=0.5, patch_size=3)
    assert net.omega == 0.5 and net.patch_size == 3


# --- Gamma ------------------------------------------------------------------------------------------------


def test_gamma_adaptive_maps_mean_luminance(dark_coffee):
    out = Gamma()(dark_coffee)
    luma = (0.299 * dark_coffee[:, 0] + 0.587 * dark_coffee[:, 1] + 0.114 * dark_coffee[:, 2]).mean()
    gamma = np.log(0.45) / np.log(luma.item())
    torch.testing.assert_close(out, dark_coffee**gamma, atol=1e-5, rtol=1e-5)
    # A grey image is mapped exactly to the target.
    torch.testing.assert_close(Gamma()(torch.full((1, 3, 4, 4), 0.1)), torch.full((1, 3, 4, 4), 0.45))
    torch.testing.assert_close(Gamma(target_mean=0.3)(torch.full((1, 3, 4, 4), 0.1)), torch.full((1, 3, 4, 4), 0.3))


def test_gamma_fixed(dark_coffee):
    torch.testing.assert_close(Gamma(gamma=0.5)(dark_coffee), dark_coffee.sqrt())
    with pytest.raises(ValueError):
        Gamma(gamma=0.0)


# --- HE / CLAHE -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("net", [HistogramEqualization(), CLAHE()], ids=["he", "clahe"])
def test_equalization_keeps_chroma(net, dark_coffee):
    out = net(dark_coffee)
    before, after = rgb_to_ycbcr(dark_coffee), rgb_to_ycbcr(out)
    # Pixels clipped to the RGB cube lose their chroma; every other pixel keeps Cb and Cr.
    inside = ((out > 0) & (out < 1)).all(dim=1)
    assert inside.float().mean() > 0.75
    torch.testing.assert_close(
        after[:, 1:][inside[:, None].expand(-1, 2, -1, -1)],
        before[:, 1:][inside[:, None].expand(-1, 2, -1, -1)],
        atol=1e-5,
        rtol=0,
    )


def test_he_flattens_luma_histogram(dark_coffee):
    luma = rgb_to_ycbcr(HistogramEqualization()(dark_coffee))[:, 0]
    # Equalized: each quartile of [0, 1] holds roughly a quarter of the pixels.
    counts = torch.histc(luma, bins=4, min=0, max=1) / luma.numel()
    assert (counts - 0.25).abs().max() < 0.1


def test_clahe_options(dark_coffee):
    net = lle.models.build("clahe", clip_limit=4, grid_size=[4, 6])
    assert net.clip_limit == 4.0 and net.grid_size == (4, 6)
    gentle, strong = CLAHE(clip_limit=1.0)(dark_coffee), CLAHE(clip_limit=4.0)(dark_coffee)
    # A higher clip limit allows more contrast.
    assert strong.std() > gentle.std()


# --- LIME -------------------------------------------------------------------------------------------------


def test_lime_illumination_and_output(dark_coffee):
    raw = LIME(refine="none")
    t = raw.illumination(dark_coffee)
    torch.testing.assert_close(t, dark_coffee.amax(dim=1, keepdim=True).clamp_min(1e-3))
    torch.testing.assert_close(raw(dark_coffee), (dark_coffee / t**0.8).clamp(0, 1))
    # The guided filter smooths T: less local variation than max-RGB.
    guided = LIME().illumination(dark_coffee)
    assert guided.diff(dim=-1).abs().mean() < t.diff(dim=-1).abs().mean()
    # A smaller gamma divides by less of the illumination: a darker result.
    assert LIME(gamma=0.5)(dark_coffee).mean() < LIME()(dark_coffee).mean()


def test_lime_options():
    with pytest.raises(ValueError):
        LIME(refine="optimisation")
    net = lle.models.build("lime", gamma=0.6, refine="none")
    assert net.gamma == 0.6 and net.refine == "none"


# --- Packed RAW data ----------------------------------------------------------------------------------------


def test_development_averages_each_colour_and_upsamples():
    bayer = torch.tensor([0.2, 0.4, 0.8, 0.6]).view(1, 4, 1, 1).expand(1, 4, 3, 5)  # R, G, B, G
    out = PackedRawDevelopment(nn.Identity(), in_channels=4, upscale=2)(bayer)
    torch.testing.assert_close(out, torch.tensor([0.2, 0.5, 0.8]).view(1, 3, 1, 1).expand(1, 3, 6, 10))
    xtrans = torch.arange(9.0).div(10).view(1, 9, 1, 1).expand(1, 9, 2, 2)  # R 0/3, B 2/4, G 1 and 5-8
    out = PackedRawDevelopment(nn.Identity(), in_channels=9, upscale=3)(xtrans)
    torch.testing.assert_close(out, torch.tensor([0.15, 0.54, 0.3]).view(1, 3, 1, 1).expand(1, 3, 6, 6))
    with pytest.raises(ValueError, match="no packed RAW layout with 5 channels"):
        PackedRawDevelopment(nn.Identity(), in_channels=5, upscale=2)


@pytest.mark.parametrize("dataset,channels,upscale", [("synthetic_raw", 4, 2), ("synthetic_raw_fuji", 9, 3)])
def test_baseline_on_packed_raw_follows_the_data_config(name, dataset, channels, upscale, tmp_path):
    module = instantiate(compose_config("train", [f"model={name}", f"data={dataset}"], tmp_path).model, loss=None)
    assert isinstance(module.net, PackedRawDevelopment) and not module.trainable
    assert sum(p.numel() for p in module.parameters()) == 0 and "to_rgb" not in module.state_dict()
    packed = torch.rand(2, channels, 10, 14, generator=torch.Generator().manual_seed(0)) * 0.3
    out = module(packed)
    assert out.shape == (2, 3, 10 * upscale, 14 * upscale)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    srgb = instantiate(compose_config("train", [f"model={name}", "data=synthetic"], tmp_path).model, loss=None)
    assert type(srgb.net) is CONFIGS[name]  # sRGB data: the method itself, no adapter


def test_lle_eval_of_a_baseline_on_raw_data(name, tmp_path):
    tiny_raw = ["data=synthetic_raw", "data.num_scenes=6", "data.image_size=[96,144]", "data.eval_crop_size=32"]
    # baselines=false: the comparison on RAW data is tested once, in test_run_summary.py
    result = evaluate(compose_config("eval", ["trainer=cpu", f"model={name}", "baselines=false", *tiny_raw], tmp_path))
    assert result["status"] == "ok" and result["choice/data"] == "synthetic_raw"
    assert 0 < result["test/psnr"] < 60 and 0 < result["test/ssim"] <= 1
