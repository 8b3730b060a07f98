import torch

import lle.models
from lle.models.gladnet import GLADNet


def count(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_count_matches_the_official_graph():
    assert count(GLADNet()) == 931_523
    assert count(lle.models.build("gladnet")) == 931_523
    net = GLADNet()
    assert count(net.encoder) == 186_432 and count(net.decoder) == 221_568 and count(net.detail) == 523_523


def test_any_input_size_and_non_negative_output():
    net = GLADNet().eval()
    with torch.no_grad():
        for h, w in [(37, 53), (96, 96), (130, 71)]:
            out = net(torch.rand(1, 3, h, w))
            assert out.shape == (1, 3, h, w)
            assert (out >= 0).all()  # the official graph ends with a ReLU


def test_tf_same_padding_differs_only_in_alignment():
    same, symmetric = GLADNet(tf_same_padding=True).eval(), GLADNet(tf_same_padding=False).eval()
    symmetric.load_state_dict(same.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = same(x), symmetric(x)
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_overrides_build_a_smaller_network():
    small = lle.models.build("gladnet", global_channels=8, detail_channels=8)
    assert count(small) < 20_000
