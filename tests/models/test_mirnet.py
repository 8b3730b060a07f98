import pytest
import torch

import lle.models
from lle.models.mirnet import DAU, BlurPool, MIRNet
from lle.models.mirnet_v2 import MIRNetV2


def count(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_match_the_official_code():
    assert count(MIRNet()) == 31_787_419
    assert count(MIRNet(share_dau_columns=False)) == 42_239_298
    assert count(MIRNetV2()) == 5_858_560


def test_build_uses_the_model_configs():
    assert count(lle.models.build("mirnet")) == count(MIRNet())
    assert count(lle.models.build("mirnet_v2")) == count(MIRNetV2())
    assert count(lle.models.build("mirnet", share_dau_columns=False)) == 42_239_298


def test_one_prelu_per_instance_and_shared_columns():
    a, b = MIRNet(n_feat=8, n_RRG=2), MIRNet(n_feat=8, n_RRG=2)
    daus = [m for m in a.modules() if isinstance(m, DAU)]
    assert len(daus) == 2 * 2 * 3  # RRGs × MSRBs × streams: both columns use the same DAUs
    assert all(dau.act is a.dau_act for dau in daus)
    assert a.dau_act is not b.dau_act and a.dau_act.weight is not b.dau_act.weight
    with torch.no_grad():
        a.dau_act.weight.fill_(0.5)
    assert b.dau_act.weight.item() == pytest.approx(0.25)  # PReLU's initial slope, untouched
    block = a.groups[0].blocks[0]
    assert all(block._dau(0, j) is block._dau(1, j) for j in range(3))


def test_independent_daus_have_their_own_prelu():
    net = MIRNet(n_feat=8, n_RRG=1, share_dau_columns=False)
    daus = [m for m in net.modules() if isinstance(m, DAU)]
    assert len(daus) == 1 * 2 * 3 * 2  # RRGs × MSRBs × streams × columns
    assert len({id(d.act) for d in daus}) == len(daus) and net.dau_act is None


def test_full_width_forward_on_an_odd_size():
    assert MIRNet.size_multiple == 4 and MIRNetV2.size_multiple == 4
    x = torch.rand(1, 3, 21, 30)
    with torch.inference_mode():
        for net in (MIRNet().eval(), MIRNetV2().eval()):
            out = net(x)
            assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("share", [True, False])
def test_reduced_width_trains_every_parameter(share):
    net = MIRNet(n_feat=16, n_RRG=1, share_dau_columns=share)
    x = torch.rand(2, 3, 13, 10)
    out = net(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    unused = [name for name, p in net.named_parameters() if p.grad is None]
    assert not unused  # the mesh, the reused SKFF and every resampler are on the graph


def test_reduced_width_v2_and_its_checks():
    net = MIRNetV2(n_feat=16, n_RRG=2, rrg_groups=(1, 4))
    assert net(torch.rand(1, 3, 13, 22)).shape == (1, 3, 13, 22)
    with pytest.raises(ValueError, match="rrg_groups"):
        MIRNetV2(n_RRG=3)
    with pytest.raises(ValueError, match="height=3, width=2"):
        MIRNetV2(height=4)


def test_only_stride_two_is_accepted():
    with pytest.raises(ValueError, match="stride"):
        MIRNet(stride=3)


def test_blur_pool_is_the_normalised_binomial_filter():
    blur = BlurPool(2)
    expected = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert torch.equal(blur.filt[1, 0], expected)
    x = torch.full((1, 2, 8, 6), 0.3)
    out = blur(x)
    assert out.shape == (1, 2, 4, 3) and torch.allclose(out, x[..., ::2, ::2])  # reflect padding: no dark border
