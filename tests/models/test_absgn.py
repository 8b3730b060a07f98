import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import lle.models
from lle.models.absgn import ABSGN, GSA, MGDB
from lle.models.wavelets import HAAR_BANDS, HaarDWT, HaarIDWT, haar_dwt, haar_idwt

OFFICIAL_DWT_ORDER = {"bands": ("LH", "HL", "HH", "LL"), "layout": "band_major"}


def count(net):
    return sum(p.numel() for p in net.parameters())


def blocks(x):
    """The four pixels a, b / c, d of every 2×2 block."""
    return x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]


# --- the parameter count of the official network (docs/specs/absgn.md §5) --------------------------------


def test_parameter_count_matches_the_official_code():
    net = ABSGN()
    assert count(net) == 8_200_944
    assert count(lle.models.build("absgn")) == 8_200_944
    per_module = {name: round(count(m) / 1e6, 2) for name, m in net.named_children()}
    assert per_module["mgdb1"] == 1.77 and per_module["mgdb2"] == 0.44
    assert per_module["mgdb3"] == 1.48 and per_module["mgdb4"] == 2.07
    assert per_module["feat4"] == 1.18 and per_module["gsa"] == 0.13 and per_module["feat10"] == 0.37
    assert per_module["feat3"] == per_module["feat6"] == 0.30


def test_official_initialisation():
    net = ABSGN()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None or not m.bias.any() for m in convs)
    assert all(torch.all(m.weight == 0.25) for m in net.modules() if isinstance(m, nn.PReLU))
    w = net.feat4[0].weight  # kaiming_normal_: std √(2 / fan_in), fan_in = 512·9
    assert w.std().item() == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.05)
    assert net.gsa.spatial[0].bias is None  # the official 5×5 gate conv has no bias


# --- the Haar pair ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["channel_major", "band_major"])
@pytest.mark.parametrize("bands", [HAAR_BANDS, ("LH", "HL", "HH", "LL"), ("HH", "LL", "HL", "LH")])
def test_haar_pair_is_orthonormal_when_read_in_the_same_order(bands, layout):
    x = torch.randn(2, 3, 10, 14, dtype=torch.float64)
    y = haar_dwt(x, bands, layout)
    assert y.shape == (2, 12, 5, 7)
    assert torch.allclose(haar_idwt(y, bands, layout), x, atol=1e-12)
    assert torch.allclose(y.square().sum(), x.square().sum())  # Parseval
    # The transform as a 4×4 matrix on one 2×2 block is orthogonal.
    basis = torch.eye(4, dtype=torch.float64).reshape(4, 1, 2, 2)
    matrix = haar_dwt(basis, bands, layout).reshape(4, 4)
    assert torch.allclose(matrix @ matrix.T, torch.eye(4, dtype=torch.float64), atol=1e-12)


def test_haar_coefficients_and_layouts():
    x = torch.randn(1, 2, 4, 6, dtype=torch.float64)
    a, b, c, d = blocks(x)
    expected = {
        "LL": (a + b + c + d) / 2,
        "LH": (a + b - c - d) / 2,
        "HL": (a - b + c - d) / 2,
        "HH": (a - b - c + d) / 2,
    }
    channel_major = haar_dwt(x, HAAR_BANDS, "channel_major")
    band_major = haar_dwt(x, HAAR_BANDS, "band_major")
    for k, name in enumerate(HAAR_BANDS):
        for ch in range(2):
            assert torch.allclose(channel_major[:, ch * 4 + k], expected[name][:, ch])
            assert torch.allclose(band_major[:, k * 2 + ch], expected[name][:, ch])


def test_haar_matches_pywavelets():
    pywt = pytest.importorskip("pywt")
    x = torch.randn(2, 3, 8, 6, dtype=torch.float64)
    ll, (lh, hl, hh) = pywt.dwt2(x.numpy(), "haar")  # cA, (cH, cV, cD): pytorch_wavelets' yl, yh[0]
    y = haar_dwt(x, HAAR_BANDS, "channel_major").unflatten(1, (3, 4))
    for k, ref in enumerate((ll, lh, hl, hh)):
        assert torch.allclose(y[:, :, k], torch.from_numpy(ref), atol=1e-12)


def test_haar_rejects_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        haar_dwt(torch.rand(1, 1, 5, 4))
    with pytest.raises(ValueError, match="permutation"):
        haar_dwt(torch.rand(1, 1, 4, 4), ("LL", "LL", "HL", "HH"))
    with pytest.raises(ValueError, match="layout"):
        haar_idwt(torch.rand(1, 4, 2, 2), HAAR_BANDS, "row_major")
    with pytest.raises(ValueError, match="multiple of 4"):
        haar_idwt(torch.rand(1, 6, 2, 2))


# --- the official code's mismatched DWT / IDWT channel order -----------------------------------------------


def test_network_dwt_is_band_major_lh_hl_hh_ll():
    """`_transformer`: torch.cat([yh[:, :, 0], yh[:, :, 1], yh[:, :, 2], yl]) — C channels per band."""
    net = ABSGN(start_channels=4)
    x = torch.randn(1, 5, 6, 8, dtype=torch.float64)
    a, b, c, d = blocks(x)
    y = net.dwt(x)
    assert torch.allclose(y[:, 0:5], (a + b - c - d) / 2)  # LH
    assert torch.allclose(y[:, 5:10], (a - b + c - d) / 2)  # HL
    assert torch.allclose(y[:, 10:15], (a - b - c + d) / 2)  # HH
    assert torch.allclose(y[:, 15:20], (a + b + c + d) / 2)  # LL last


def test_network_idwt_reads_channel_major_with_ll_first():
    """`_Itransformer`: reshape to (C, 4) and take index 0 as LL, 1…3 as LH, HL, HH."""
    net = ABSGN(start_channels=4)
    y = torch.zeros(1, 12, 3, 4, dtype=torch.float64)
    ll = torch.randn(1, 3, 3, 4, dtype=torch.float64)
    y[:, 0::4] = ll  # channels 0, 4, 8 only: the approximation of image channels 0, 1, 2
    assert torch.allclose(net.idwt(y), F.interpolate(ll, scale_factor=2, mode="nearest") / 2)
    y[:, 1::4] = torch.randn(1, 3, 3, 4, dtype=torch.float64)
    x = net.idwt(y)  # channels 1, 5, 9 are LH: with LL, a = (LL + LH) / 2 and c = (LL − LH) / 2
    assert torch.allclose(x[..., 0::2, 0::2] - x[..., 1::2, 0::2], y[:, 1::4])


def test_network_keeps_the_mismatch_and_applies_three_of_each():
    net = ABSGN(start_channels=4)
    x = torch.randn(1, 8, 4, 6, dtype=torch.float64)
    assert not torch.allclose(net.idwt(net.dwt(x)), x)  # the orders disagree, as in the official code
    assert torch.allclose(HaarIDWT(**OFFICIAL_DWT_ORDER)(net.dwt(x)), x)  # read back in its own order
    assert torch.allclose(net.idwt(HaarDWT(HAAR_BANDS, "channel_major")(x)), x)
    calls = {"dwt": 0, "idwt": 0}
    net.dwt.register_forward_hook(lambda *_: calls.__setitem__("dwt", calls["dwt"] + 1))
    net.idwt.register_forward_hook(lambda *_: calls.__setitem__("idwt", calls["idwt"] + 1))
    with torch.inference_mode():
        net(torch.rand(1, 3, 16, 16))
    assert calls == {"dwt": 3, "idwt": 3}


# --- GSA ----------------------------------------------------------------------------------------------------


def test_gsa_matches_the_official_resize_then_convolve_formula():
    torch.manual_seed(0)
    gsa = GSA(16).double()
    x = torch.randn(2, 16, 7, 9, dtype=torch.float64)
    pooled = (F.adaptive_max_pool2d(x, 1) + F.adaptive_avg_pool2d(x, 1)) / 2
    z = gsa.conv1(F.interpolate(pooled, size=x.shape[-2:], mode="nearest"))
    gate = torch.sigmoid(gsa.spatial(torch.cat([z.max(1, keepdim=True)[0], z.mean(1, keepdim=True)], 1)))
    assert torch.allclose(gsa(x), gsa.conv2(torch.cat([x, z * gate], 1)))
    # z is spatially constant, so the gate is constant away from the 5×5 conv's 2-pixel zero border.
    inner = gate[..., 2:-2, 2:-2]
    assert torch.allclose(inner, inner[..., :1, :1].expand_as(inner))
    assert not torch.allclose(gate[..., 0, 0], gate[..., 3, 3])


def test_gsa_default_is_the_code_and_the_figure_variant_is_an_option():
    assert not any(isinstance(m, (nn.PReLU, nn.BatchNorm2d)) for m in GSA(16).modules())
    figure = GSA(16, act=True, bn=True)
    assert sum(isinstance(m, nn.PReLU) for m in figure.modules()) == 3
    assert sum(isinstance(m, nn.BatchNorm2d) for m in figure.modules()) == 1
    assert count(ABSGN(gsa_act=True, gsa_bn=True)) == 8_200_944 + 3 + 2  # three slopes, BN's γ and β
    net = lle.models.build("absgn", start_channels=8, gsa_act=True, gsa_bn=True)
    assert isinstance(net.gsa.spatial[-1], nn.BatchNorm2d)
    out = net.train()(torch.rand(2, 3, 16, 24))
    assert out.shape == (2, 3, 16, 24) and torch.isfinite(out).all()
    out.mean().backward()
    assert net.gsa.spatial[-1].weight.grad is not None and net.gsa.act2.weight.grad is not None


# --- MGDB and the forward pass ------------------------------------------------------------------------------


def test_mgdb_is_dense_with_channel_attention_and_no_residual():
    block = MGDB(6, 16)
    assert block.fuse_local[0].in_channels == 6 + 16 and block.fuse_dilated[0].out_channels == 32
    assert block.fuse[0].in_channels == 48 and block.attention.squeeze.out_channels == 2  # reduction 8
    assert [block.branch_d4[0].dilation, block.branch_d2[0].dilation, block.branch_d1[0].dilation] == [
        (4, 4),
        (2, 2),
        (1, 1),
    ]
    assert block(torch.rand(1, 6, 9, 11)).shape == (1, 16, 9, 11)


def test_full_width_forward_on_an_odd_size():
    assert ABSGN.size_multiple == 8
    x = torch.rand(1, 3, 21, 30)
    with torch.inference_mode():
        out = ABSGN().eval()(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_reduced_width_trains_every_parameter():
    net = ABSGN(start_channels=8)
    x = torch.rand(2, 3, 13, 18)
    out = net(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert not [name for name, p in net.named_parameters() if p.grad is None]


def test_start_channels_must_be_even():
    with pytest.raises(ValueError, match="even"):
        ABSGN(start_channels=9)
    with pytest.raises(ValueError, match="upscale"):
        ABSGN(upscale=0)


# --- the packed-RAW adaptation (not in the original) --------------------------------------------------------


def test_packed_raw_adaptation_upsamples_with_a_pixel_shuffle_head():
    net = lle.models.build("absgn", in_channels=4, upscale=2, start_channels=8)
    assert net.feat1[0].in_channels == 4 and net.feat11[0].out_channels == 3 * 4
    with torch.inference_mode():
        assert net(torch.rand(1, 4, 16, 24)).shape == (1, 3, 32, 48)
        assert net(torch.rand(1, 4, 13, 18)).shape == (1, 3, 26, 36)  # padded to 16×24, cropped back ×2
