"""Retinex-Net: the official architecture and losses, checked against counts and hand-computed values."""

import math
import sys

import pytest
import torch
import torch.nn.functional as F

import lle.models
from lle.losses.retinex import (
    average_gradient,
    decom_loss,
    gradient,
    invariable_reflectance_loss,
    reconstruction_loss,
    relight_loss,
    rgb_to_gray,
    smoothness_loss,
)
from lle.models.retinexnet import RetinexNet, _resize_nearest, denoise_reflectance_bm3d

TF_GRAY_SUM = 0.2989 + 0.5870 + 0.1140  # gray of an RGB pixel (1, 1, 1)


def count(net):
    return sum(p.numel() for p in net.parameters())


def image(rows):
    """A 1×1×H×W tensor written out row by row."""
    return torch.tensor(rows, dtype=torch.float64)[None, None]


def constant(value, size=3):
    return torch.full((1, 3, size, size), value, dtype=torch.float64)


# ---------------------------------------------------------------- network


def test_parameter_count_matches_the_official_graph():
    net = RetinexNet()
    assert count(net) == 444_613
    assert count(net.decom) == 207_748 and count(net.relight) == 236_865
    assert count(lle.models.build("retinexnet")) == 444_613
    assert "retinexnet" in lle.models.available()


def test_constructor_options_change_the_widths():
    c, k = 8, 5
    decom = (4 * 9 * k * k * c + c) + 2 * (c * c * k * k + c) + (c * 4 * k * k + 4)
    relight = (4 * c * k * k + c) + 6 * (c * c * k * k + c) + (3 * c * c + c) + (c * 9 + 1)
    net = lle.models.build("retinexnet", channel=c, kernel_size=k, layer_num=2)
    assert count(net.decom) == decom and count(net.relight) == relight
    assert net(torch.rand(1, 3, 11, 9)).shape == (1, 3, 11, 9)


def test_forward_keeps_any_size_and_returns_s_equal_r_times_relit_illumination():
    net = RetinexNet().eval()
    assert net.size_multiple == 1
    with torch.no_grad():
        for h, w in [(13, 17), (1, 1), (2, 3)]:
            x = torch.rand(1, 3, h, w)
            out = net.decompose_and_relight(x)
            assert out.reflectance.shape == (1, 3, h, w) and out.illumination.shape == (1, 1, h, w)
            assert out.relit_illumination.shape == (1, 1, h, w)
            assert ((out.reflectance > 0) & (out.reflectance < 1)).all()  # sigmoids
            assert ((out.illumination > 0) & (out.illumination < 1)).all()
            assert out.denoised_reflectance is None
            torch.testing.assert_close(out.enhanced, out.reflectance * out.relit_illumination)
            torch.testing.assert_close(net(x), out.enhanced)


def test_strided_convs_pad_like_tensorflow_same():
    conv = RetinexNet(channel=4).relight.conv1
    even, odd = torch.rand(1, 4, 8, 10), torch.rand(1, 4, 7, 9)
    # even size: one zero row/column at the bottom/right only; odd size: one on every side
    torch.testing.assert_close(conv(even), F.conv2d(F.pad(even, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2))
    torch.testing.assert_close(conv(odd), F.conv2d(odd, conv.weight, conv.bias, stride=2, padding=1))
    assert conv(odd).shape[-2:] == (4, 5)  # ceil(H / 2), as TF


def test_nearest_resize_is_tf1_legacy():
    x = torch.arange(3.0).view(1, 1, 1, 3)
    like = torch.zeros(1, 1, 1, 5)
    assert _resize_nearest(x, like).flatten().tolist() == [0, 0, 1, 1, 2]  # floor(dst · 3/5)


# ---------------------------------------------------------------- losses

# A 3×3 illumination and its gradients, worked out by hand from the official SAME 2×2 cross-correlation:
#   ∇x[i, j] = I[i+1, j+1] − I[i+1, j],  ∇y[i, j] = I[i+1, j+1] − I[i, j+1],  zero outside the image.
I3 = [[1, 2, 4], [3, 5, 6], [7, 8, 9]]
GRAD_X = [[2, 1, 6], [1, 1, 9], [0, 0, 0]]  # last column is −I of the row below; last row is 0
GRAD_Y = [[3, 2, 0], [3, 3, 0], [8, 9, 0]]  # last row is −I of the column to the right; last column is 0


def test_gradient_pads_bottom_right_with_zeros():
    assert gradient(image(I3), "x").equal(image(GRAD_X))
    assert gradient(image(I3), "y").equal(image(GRAD_Y))


def test_average_gradient_leaves_padding_out_of_the_mean():
    expected = image(
        [
            [5 / 4, 20 / 6, 17 / 4],  # corners average 4 pixels, edges 6 (count_include_pad=True: all /9)
            [5 / 6, 20 / 9, 17 / 6],
            [2 / 4, 11 / 6, 10 / 4],
        ]
    )
    torch.testing.assert_close(average_gradient(image(I3), "x"), expected)


def test_gray_uses_the_tf_weights():
    pixel = torch.tensor([0.2, 0.4, 0.6], dtype=torch.float64).view(1, 3, 1, 1)
    assert rgb_to_gray(pixel).shape == (1, 1, 1, 1)
    assert rgb_to_gray(pixel).item() == pytest.approx(0.2989 * 0.2 + 0.5870 * 0.4 + 0.1140 * 0.6)


def test_smoothness_without_structure_is_plain_total_variation():
    # gray(R) = 0 → every weight exp(0) = 1 → mean(|∇x I| + |∇y I|) = (20 + 28) / 9
    reflectance = torch.zeros(1, 3, 3, 3, dtype=torch.float64)
    assert smoothness_loss(image(I3), reflectance).item() == pytest.approx(48 / 9)


def test_smoothness_is_damped_by_the_pooled_reflectance_gradient():
    # R = 1 at the centre pixel only, so gray(R) = c there: |∇x gray| = c at (0,0), (0,1); |∇y gray| = c at
    # (0,0), (1,0). Pooled (count_include_pad=False) by hand:
    c = TF_GRAY_SUM
    pooled_x = c * image([[1 / 2, 1 / 3, 1 / 4], [1 / 3, 2 / 9, 1 / 6], [0, 0, 0]])
    pooled_y = pooled_x.transpose(-1, -2)
    reflectance = torch.zeros(1, 3, 3, 3, dtype=torch.float64)
    reflectance[..., 1, 1] = 1
    reflectance.requires_grad_(True)
    expected = (image(GRAD_X) * torch.exp(-10 * pooled_x) + image(GRAD_Y) * torch.exp(-10 * pooled_y)).mean()
    loss = smoothness_loss(image(I3), reflectance)
    torch.testing.assert_close(loss, expected.detach())
    loss.backward()
    assert reflectance.grad.abs().sum() > 0  # no stop-gradient on R
    # the structure-awareness weight is the 10 inside the exponent
    weaker = (image(GRAD_X) * torch.exp(-2 * pooled_x) + image(GRAD_Y) * torch.exp(-2 * pooled_y)).mean()
    torch.testing.assert_close(smoothness_loss(image(I3), reflectance, structure_awareness=2.0), weaker.detach())


def constant_smoothness(i, r):
    # constant I = i, R = r on 3×3: only the border gradients are nonzero (|∇x I| = i at (0,2), (1,2)), where
    # the pooled |∇x gray(R)| is g/2 and g/3 (g = gray(r)); y is the transpose.
    g = r * TF_GRAY_SUM
    return 2 * i * (math.exp(-10 * g / 2) + math.exp(-10 * g / 3)) / 9


def test_reconstruction_and_reflectance_terms():
    r = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    i = image([[1, 0.5], [0, 1]])
    s = torch.full((1, 3, 2, 2), 0.25, dtype=torch.float64)
    assert reconstruction_loss(r, i, s).item() == pytest.approx((0.25 + 0 + 0.25 + 0.25) / 4)
    r_high = r.clone()
    r_high[:, 0] = 0.9  # |0.5 − 0.9| on one channel of three
    assert invariable_reflectance_loss(r, r_high).item() == pytest.approx(0.4 / 3)


def test_decom_loss_terms_and_weighted_total():
    low, high = constant(0.1), constant(0.7)
    r_low, r_high = constant(0.5), constant(0.8)
    i_low, i_high = image([[0.2] * 3] * 3), image([[1.0] * 3] * 3)
    total, terms = decom_loss(low, high, r_low, i_low, r_high, i_high)
    expected = {
        "recon_low": 0.0,  # 0.5 · 0.2 = 0.1
        "recon_high": 0.1,  # |0.8 · 1 − 0.7|
        "mutual_recon_low": 0.06,  # |R_high · I_low − low| = |0.16 − 0.1|
        "mutual_recon_high": 0.2,  # |R_low · I_high − high| = |0.5 − 0.7|
        "invariable_reflectance": 0.3,
        "smooth_low": constant_smoothness(0.2, 0.5),
        "smooth_high": constant_smoothness(1.0, 0.8),
    }
    assert {k: v.item() for k, v in terms.items()} == pytest.approx(expected)
    official = (
        expected["recon_low"]
        + expected["recon_high"]
        + 0.001 * (expected["mutual_recon_low"] + expected["mutual_recon_high"])
        + 0.1 * (expected["smooth_low"] + expected["smooth_high"])
        + 0.01 * expected["invariable_reflectance"]
    )
    assert total.item() == pytest.approx(official)
    total, terms = decom_loss(
        low,
        high,
        r_low,
        i_low,
        r_high,
        i_high,
        mutual_weight=2,
        reflectance_weight=3,
        smooth_weight=5,
        structure_awareness=1,
    )
    assert terms["smooth_low"].item() == pytest.approx(smoothness_loss(i_low, r_low, 1.0).item())
    weighted = (
        terms["recon_low"]
        + terms["recon_high"]
        + 2 * (terms["mutual_recon_low"] + terms["mutual_recon_high"])
        + 5 * (terms["smooth_low"] + terms["smooth_high"])
        + 3 * terms["invariable_reflectance"]
    )
    assert total.item() == pytest.approx(weighted.item())


def test_relight_loss_terms_and_weighted_total():
    high = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    r_low = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    relit = image([[1, 2], [0.5, 0.25]])
    total, terms = relight_loss(high, r_low, relit)
    # R·Î = [[0.5, 1], [0.25, 0.125]] against 0.5
    assert terms["relight_recon"].item() == pytest.approx((0 + 0.5 + 0.25 + 0.375) / 4)
    # |∇x Î| = [[0.25, 0.25], [0, 0]] (the right one is −Î[1, 1]), |∇y Î| = [[1.75, 0], [0.25, 0]];
    # on 2×2 every 3×3 window covers the whole image, so both pooled gray gradients are g/4 (g = gray(0.5)).
    g = 0.5 * TF_GRAY_SUM
    smooth = (0.25 + 0.25 + 1.75 + 0.25) * math.exp(-10 * g / 4) / 4
    assert terms["relight_smooth"].item() == pytest.approx(smooth)
    assert total.item() == pytest.approx(terms["relight_recon"].item() + 3 * smooth)
    total, terms = relight_loss(high, r_low, relit, smooth_weight=0.5)
    assert total.item() == pytest.approx((terms["relight_recon"] + 0.5 * terms["relight_smooth"]).item())


# ---------------------------------------------------------------- BM3D option


def test_missing_bm3d_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "lle\[bm3d\]"'):
        denoise_reflectance_bm3d(torch.rand(1, 3, 8, 8), 0.1)
    net = RetinexNet(channel=4, layer_num=1, bm3d_sigma=0.1).eval()
    with pytest.raises(ImportError, match="bm3d"):
        net(torch.rand(1, 3, 8, 8))


def test_bm3d_denoises_the_reflectance_at_inference_only():
    pytest.importorskip("bm3d")  # each call takes seconds whatever the size: two calls in all
    generator = torch.Generator().manual_seed(0)
    noisy = (0.5 + 0.1 * torch.randn(1, 3, 16, 16, generator=generator)).clamp(0, 1)
    denoised = denoise_reflectance_bm3d(noisy, 0.1)
    assert denoised.shape == noisy.shape and denoised.dtype == noisy.dtype
    assert (denoised - 0.5).abs().mean() < 0.5 * (noisy - 0.5).abs().mean()

    net = RetinexNet(channel=4, layer_num=1, bm3d_sigma=0.1)
    x = torch.rand(1, 3, 16, 16, generator=generator)
    with torch.no_grad():
        trained = net.train().decompose_and_relight(x)
        out = net.eval().decompose_and_relight(x)
    assert trained.denoised_reflectance is None  # never while training
    torch.testing.assert_close(trained.reflectance, out.reflectance)
    assert out.denoised_reflectance is not None
    assert not torch.equal(out.denoised_reflectance, out.reflectance)
    torch.testing.assert_close(out.enhanced, out.denoised_reflectance * out.relit_illumination)
