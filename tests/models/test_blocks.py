"""The shared layers compute in eager mode exactly what they computed before they became traceable, and
their traced forms keep every size-dependent step a function of the input's size."""

import pytest
import torch
import torch.nn.functional as F

from lle.models.alen import _avg_pool_at_most
from lle.models.blocks import TFSameConv2d, gather_nearest, resize_nearest

# TF 'SAME' padding (top/left, bottom/right) written out by hand for the cases the networks meet: stride 1
# pads k // 2 on both sides; stride 2 with k = 3 pads (0, 1) on even sides (bottom/right only) and (1, 1) on
# odd ones; an even kernel pads one more at the bottom/right.
SAME_PADS = [
    (3, 1, 20, (1, 1)),
    (3, 1, 21, (1, 1)),
    (9, 1, 20, (4, 4)),
    (3, 2, 20, (0, 1)),
    (3, 2, 21, (1, 1)),
    (4, 1, 20, (1, 2)),
    (4, 2, 21, (1, 2)),
    (4, 2, 20, (1, 1)),
]


@pytest.mark.parametrize(("kernel", "stride", "size", "pads"), SAME_PADS)
def test_tf_same_conv_is_bit_identical_to_a_conv_after_explicit_padding(kernel, stride, size, pads):
    torch.manual_seed(0)
    conv = TFSameConv2d(3, 5, kernel, stride=stride)
    x = torch.rand(2, 3, size, size + 3)  # the width's padding is the one of size + 3
    width_pads = {(3, 1): (1, 1), (9, 1): (4, 4), (4, 1): (1, 2)}.get((kernel, stride))
    if width_pads is None:  # stride 2: the width size + 3 has the other parity
        width_pads = next(p for k, s, n, p in SAME_PADS if (k, s, n % 2) == (kernel, stride, (size + 3) % 2))
    expected = F.conv2d(F.pad(x, (*width_pads, *pads)), conv.weight, conv.bias, stride)
    with torch.no_grad():
        assert torch.equal(conv(x), expected)


@pytest.mark.parametrize(("kernel", "stride"), [(3, 1), (3, 2), (4, 1), (4, 2)])
def test_a_traced_tf_same_conv_pads_for_the_size_it_is_given(kernel, stride):
    torch.manual_seed(0)
    conv = TFSameConv2d(3, 4, kernel, stride=stride).eval()
    with torch.no_grad():
        traced = torch.jit.trace(conv, torch.rand(1, 3, 20, 30), check_trace=False)
        for shape in [(1, 3, 20, 30), (2, 3, 21, 17), (1, 3, 8, 9)]:
            x = torch.rand(*shape)
            torch.testing.assert_close(traced(x), conv(x), atol=1e-6, rtol=0)


# Pairs where ONNX's rounding, dst / (out / in), and PyTorch's, floor(dst · in / out), pick different pixels
# for some dst (e.g. 200 → 96 and 96 → 45), besides plain halving and doubling.
RESIZES = [
    ((45, 200), (96, 96)),
    ((96, 96), (45, 200)),
    ((131, 173), (96, 96)),
    ((3, 3), (6, 6)),
    ((6, 6), (3, 3)),
    ((37, 51), (19, 26)),
    ((19, 26), (37, 51)),
    ((7, 7), (7, 7)),
]


@pytest.mark.parametrize(("source", "size"), RESIZES)
def test_gathered_nearest_resize_is_pytorchs_nearest(source, size):
    x = torch.rand(2, 3, *source)
    expected = F.interpolate(x, size=size, mode="nearest")
    assert torch.equal(gather_nearest(x, size), expected)
    assert torch.equal(resize_nearest(x, size), expected)  # eager: F.interpolate itself


def test_gathered_nearest_resize_accepts_a_square_side():
    x = torch.rand(1, 2, 45, 200)
    assert torch.equal(gather_nearest(x, 96), F.interpolate(x, size=96, mode="nearest"))


@pytest.mark.parametrize("kernel", [2, 4])
def test_alens_pooling_traced_keeps_its_size_dependent_kernel(kernel):
    def pool(x):
        return _avg_pool_at_most(x, kernel)

    traced = torch.jit.trace(pool, torch.rand(1, 2, 17, 23), check_trace=False)
    # 3×2 maps shrink the kernel below 4 on both sides; odd sides drop their last row/column (floor mode).
    for shape in [(1, 2, 17, 23), (2, 2, 3, 2), (1, 2, 8, 9), (1, 2, 1, 5)]:
        x = torch.rand(*shape)
        side = (min(kernel, shape[2]), min(kernel, shape[3]))
        expected = F.avg_pool2d(x, side, stride=side)
        assert torch.equal(pool(x), expected)  # eager: the pooling as before
        torch.testing.assert_close(traced(x), expected, atol=1e-6, rtol=0)
