import pytest
import torch
import torch.nn.functional as F

import lle.models
from lle.models.alen import ALEN, CABConvBlock, InvertedShuffle, NonLocalAttention


def count(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_match_the_spec():
    assert count(ALEN()) == 2_771_316  # ISL, the paper
    assert count(ALEN(downsample="maxpool")) == 2_685_076  # the released code
    assert count(lle.models.build("alen")) == 2_771_316
    assert count(lle.models.build("alen", downsample="maxpool")) == 2_685_076
    # The default run's network (model=alen_quick) on sRGB: pixel-unshuffled 12-channel input, non-original head
    assert count(ALEN(in_channels=3, upscale=1, srgb_input=True)) == 2_784_692
    # ... whose head also returns the blend weight (out_channels=4): one more output channel of the last conv
    assert count(ALEN(in_channels=3, upscale=1, srgb_input=True, out_channels=4)) == 2_784_824
    net = ALEN(downsample="maxpool")  # per-stage counts of spec §5, rounded there to the digits given
    stages = {
        "inc": (14.4e3, 100),
        "enc1": (83e3, 1e3),
        "enc2": (332e3, 1e3),
        "enc3": (1.33e6, 1e4),
        "up1": (131e3, 1e3),
        "dec1": (574e3, 1e3),
        "up2": (33e3, 1e3),
        "dec2": (144e3, 1e3),
        "up3": (8e3, 1e3),
        "dec3": (36e3, 1e3),
        "out": (396, 1),
    }
    for name, (expected, unit) in stages.items():
        assert abs(count(getattr(net, name)) - expected) <= unit / 2, name


def test_chunked_attention_equals_the_full_matrix():
    torch.manual_seed(0)
    chunked, full = NonLocalAttention(16, attention_chunk=7), NonLocalAttention(16, attention_chunk=None)
    full.load_state_dict(chunked.state_dict())
    x = torch.randn(2, 16, 40, 36)  # 20×18 = 360 queries, not a multiple of 7
    with torch.no_grad():  # the reused-buffer path
        assert torch.allclose(chunked(x), full(x), atol=1e-5)
    x.requires_grad_(True)  # the autograd path: same values and gradients
    grad_chunked = torch.autograd.grad(chunked(x).square().sum(), x)[0]
    grad_full = torch.autograd.grad(full(x).square().sum(), x)[0]
    assert torch.allclose(grad_chunked, grad_full, atol=1e-4)


def test_non_local_attention_matches_the_official_formulation_at_batch_1():
    torch.manual_seed(1)
    block = NonLocalAttention(32, attention_chunk=5)
    x = torch.randn(1, 32, 34, 26)  # odd pooled sizes: 17×13 queries, 4×3 keys (floor)
    with torch.no_grad():
        # nonlocalblock.forward of Justones/ALEN model.py, written out for b = 1.
        u = F.avg_pool2d(x, 2, stride=2)
        _, c, h, w = u.shape
        theta = block.theta(u).view(1, c // 4, -1).permute(0, 2, 1)
        phi = F.avg_pool2d(block.phi(u), 4, stride=4).view(1, c // 4, -1)
        g = F.avg_pool2d(block.g(u), 4, stride=4).view(1, c // 4, -1).permute(0, 2, 1)
        y = torch.matmul(F.softmax(torch.matmul(theta, phi), dim=-1), g).permute(0, 2, 1).contiguous()
        expected = F.interpolate(block.conv(y.view(1, c // 4, h, w)), size=[34, 26])
        assert torch.allclose(block(x), expected, atol=1e-6)


def test_channel_attention_matches_the_official_batch_1_seblock():
    torch.manual_seed(2)
    block = CABConvBlock(24, 8)
    x = torch.rand(1, 24, 9, 13)
    squeeze, excite = block.attention.squeeze, block.attention.excite
    with torch.no_grad():
        # seblock: AvgPool2d([h, w]) → view(1,1,1,-1) → Linear, ReLU, Linear, Sigmoid → view(1,-1,1,1) → x * y
        z = F.avg_pool2d(x, [9, 13]).view(1, 1, 1, -1)
        z = F.relu(F.linear(z, squeeze.weight.flatten(1), squeeze.bias))
        z = torch.sigmoid(F.linear(z, excite.weight.flatten(1), excite.bias)).view(1, -1, 1, 1)
        assert torch.allclose(block.attention(x), x * z, atol=1e-6)


def test_isl_is_the_official_space_to_depth_and_1x1_conv():
    torch.manual_seed(3)
    isl, c = InvertedShuffle(5), 5
    x = torch.randn(1, c, 6, 8)
    # Official order: the four phases (0,0), (0,1), (1,1), (1,0), block-major.
    s2d = torch.cat([x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 1::2], x[..., 1::2, 0::2]], dim=1)
    phase = {(0, 0): 0, (0, 1): 1, (1, 1): 2, (1, 0): 3}
    # PixelUnshuffle puts phase (i, j) of channel k at 4k + 2i + j.
    weight = torch.empty_like(isl.conv.weight)
    for k in range(c):
        for (i, j), p in phase.items():
            weight[:, p * c + k] = isl.conv.weight[:, 4 * k + 2 * i + j]
    with torch.no_grad():
        assert torch.allclose(isl(x), F.conv2d(s2d, weight, isl.conv.bias), atol=1e-6)


@pytest.mark.parametrize("downsample", ["isl", "maxpool"])
def test_odd_packed_input_gives_twice_the_size(downsample):
    net = ALEN(downsample=downsample).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 4, 21, 30))
    assert out.shape == (1, 3, 42, 60)
    assert (out >= 0).all()  # ReLU before the pixel shuffle


def test_chunk_size_does_not_change_the_network_output():
    torch.manual_seed(4)
    chunked = ALEN(attention_chunk=3).eval()
    full = ALEN(attention_chunk=None).eval()
    full.load_state_dict(chunked.state_dict())
    x = torch.rand(1, 4, 40, 48)
    with torch.no_grad():
        assert torch.allclose(chunked(x), full(x), atol=1e-5)


def test_batch_of_two_equals_two_batches_of_one():
    torch.manual_seed(5)
    net = ALEN(attention_chunk=11).eval()
    x = torch.rand(2, 4, 24, 40)
    with torch.no_grad():
        together = net(x)
        apart = torch.cat([net(x[:1]), net(x[1:])])
    assert torch.allclose(together, apart, atol=1e-5)


def test_srgb_adaptation_keeps_the_input_resolution():
    net = lle.models.build("alen", srgb_input=True, in_channels=3).eval()
    assert net.input_multiple == 16
    with torch.no_grad():
        assert net(torch.rand(1, 3, 37, 54)).shape == (1, 3, 37, 54)
    with pytest.raises(ValueError, match="in_channels=3"):
        ALEN(srgb_input=True)


@pytest.mark.parametrize("srgb_input", [True, False])
def test_icnr_starts_the_pixel_shuffle_positions_alike_and_changes_nothing_else(srgb_input):
    options = dict(in_channels=3, srgb_input=True, out_channels=4) if srgb_input else dict(in_channels=4)
    torch.manual_seed(0)
    plain = ALEN(**options).eval()
    torch.manual_seed(0)
    icnr = ALEN(**options, subpixel_init="icnr").eval()
    assert count(icnr) == count(plain)
    assert all(
        torch.equal(a, b)
        for (n, a), (_, b) in zip(plain.named_parameters(), icnr.named_parameters())
        if n[:4] != "out."
    )
    features = torch.rand(1, 32, 8, 12)
    with torch.no_grad():
        first, grid = icnr.out(features), plain.out(features)
    # Every 2×2 block of the first output is one value per channel; PyTorch's initialisation draws a grid.
    blocks = first.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
    assert torch.equal(blocks, blocks[..., :1].expand_as(blocks))
    plain_blocks = grid.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
    assert not torch.allclose(plain_blocks, plain_blocks[..., :1].expand_as(plain_blocks))
    with pytest.raises(ValueError, match="subpixel_init must be 'default' or 'icnr'"):
        ALEN(subpixel_init="zeros")


def test_xtrans_packed_input():
    net = ALEN(in_channels=9).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 9, 16, 24)).shape == (1, 3, 32, 48)


def test_invalid_options_fail_early():
    with pytest.raises(ValueError, match="isl"):
        ALEN(downsample="avgpool")
    with pytest.raises(ValueError, match="attention_chunk"):
        ALEN(attention_chunk=0)


def test_schedule_follows_the_official_epochs():
    cfg = lle.models.model_config("alen")
    assert cfg.scheduler_interval == "epoch" and cfg.optimizer.lr == 1.0e-4
    # main.py: 1e-4, then /10, /50, /100 after epochs 2000, 3000, 4000.
    from hydra.utils import instantiate

    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=cfg.optimizer.lr)
    factor = instantiate(cfg.scheduler)(optimizer=opt).lr_lambdas[0]
    lrs = {epoch: 1e-4 * factor(epoch) for epoch in (2000, 2001, 3000, 3001, 4000, 4001)}
    assert lrs == pytest.approx({2000: 1e-4, 2001: 1e-5, 3000: 1e-5, 3001: 2e-6, 4000: 2e-6, 4001: 1e-6})


def test_training_step_reaches_every_parameter():
    net = ALEN(attention_chunk=5)
    net(torch.rand(1, 4, 32, 32)).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_xtrans_head_upscales_by_three_and_the_config_follows_the_data(tmp_path):
    from hydra.utils import instantiate

    import lle.models
    from conftest import compose_config

    fuji = lle.models.build("alen", in_channels=9, upscale=3)
    assert fuji(torch.rand(1, 9, 16, 24)).shape == (1, 3, 48, 72)
    for data, expected in (("synthetic", (3, 1, True)), ("sid_sony", (4, 2, False)), ("sid_fuji", (9, 3, False))):
        net_cfg = compose_config("train", ["model=alen", f"data={data}"], tmp_path).model.net
        assert (net_cfg.in_channels, net_cfg.upscale, net_cfg.srgb_input) == expected
    srgb = instantiate(compose_config("train", ["model=alen"], tmp_path).model.net)
    assert srgb(torch.rand(1, 3, 20, 36)).shape == (1, 3, 20, 36)
