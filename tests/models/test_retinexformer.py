"""Retinexformer (docs/specs/retinexformer.md): the official parameter count, the official code's outputs, the
released weight format.

The fixtures in tests/models/data/official/ were made with the official code (`caiyuanhao1998/Retinexformer` @
ad5c091, `basicsr/models/archs/RetinexFormer_arch.py`, run with einops 0.8 and torch 2.13 on CPU, outside this
repository): `RetinexFormer(in_channels=3, out_channels=3, n_feat=40, stage=1, num_blocks=[1, 2, 2])` (the LOL
option files) gave its state-dict keys and shapes (`retinexformer_official_state_dict.tsv`), was loaded with the
seeded values `official_state_dict` regenerates here (the rule of test_official_weights.py, attention scales ×4),
and was run on two fixed low-light inputs (`retinexformer_outputs.npz`): 32×48, a multiple of 4, run as it is, and
35×51, padded and cropped as `Enhancement/test_from_dataset.py` does (reflect at the bottom/right to a multiple of
4). 35×51 pads to 36×52, which a padding to 8 would not give.
"""

from __future__ import annotations

import csv
import functools
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import lle.models
from lle.inference import enhance
from lle.models import from_official
from lle.models.interface import SRGB, NetworkInput, input_multiple, network_input
from lle.models.official import _SIGNATURES
from lle.models.retinexformer import IGMSA, Retinexformer

DATA = Path(__file__).resolve().parent / "data" / "official"
TOLERANCE = 1e-4
PARAMETERS = 1_605_701  # sum of numel over the official RetinexFormer's parameters, LOL configuration

GAIN = 0.7
ATTENTION_SCALES = [(r"\.rescale$", 4.0)]  # sharper channel attention, so a softmax over the wrong axis shows


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@functools.cache
def _official_state_dict() -> dict[str, torch.Tensor]:
    with (DATA / "retinexformer_official_state_dict.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    state = {}
    for row in rows:
        key, shape = row["key"], [int(s) for s in row["shape"].split("x")]
        g = torch.Generator().manual_seed(zlib.crc32(f"retinexformer:{key}".encode()))
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        if len(shape) >= 2:
            std = GAIN * (2.0 / (int(np.prod(shape)) // shape[0])) ** 0.5
        elif int(np.prod(shape)) == 1:
            x, std = 0.25 + 0.05 * x, 1.0
        else:
            std = 0.05
        for pattern, scale in ATTENTION_SCALES:
            if re.search(pattern, key):
                std *= scale
        state[key] = (x * std).to(torch.float32)
    return state


def official_state_dict() -> dict[str, torch.Tensor]:
    """The official state dict (keys, order and shapes as stored) with the fixture's seeded values."""
    return dict(_official_state_dict())


@pytest.fixture(scope="module")
def official() -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "retinexformer_outputs.npz"))


def max_error(y: torch.Tensor, expected: np.ndarray) -> float:
    assert tuple(y.shape) == expected.shape
    assert np.abs(expected).mean() > 1e-2  # a non-trivial output
    return float(np.abs(y.numpy() - expected).max())


# --- the official network ----------------------------------------------------------------------------------


def test_parameter_count_matches_the_official_code():
    net = Retinexformer()
    assert count(net) == PARAMETERS
    assert count(lle.models.build("retinexformer")) == PARAMETERS
    stage = net.body[0]
    assert count(stage.estimator) == 10_363
    per_part = {name: count(m) for name, m in stage.denoiser.named_children()}
    assert per_part == {
        "embedding": 1_080,
        "encoder_layers": 696_205,
        "bottleneck": 632_648,
        "decoder_layers": 264_325,
        "mapping": 1_080,
    }
    assert count(Retinexformer(stage=3)) == 3 * PARAMETERS


def test_state_dict_has_the_official_keys_in_the_official_order():
    assert list(Retinexformer().state_dict()) == list(official_state_dict())
    assert _SIGNATURES["retinexformer"] in official_state_dict()


def test_official_initialisation():
    torch.manual_seed(0)
    net = Retinexformer()
    q = net.body[0].denoiser.bottleneck.blocks[0][0].to_q.weight  # trunc_normal_(std=0.02)
    assert q.std().item() == pytest.approx(0.02, rel=0.05)
    assert all(not m.bias.any() for m in net.modules() if isinstance(m, nn.Linear) and m.bias is not None)
    norms = [m for m in net.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 8 and all(m.weight.eq(1).all() and not m.bias.any() for m in norms)
    assert all(m.rescale.eq(1).all() for m in net.modules() if isinstance(m, IGMSA))


def test_declares_srgb_input_padded_to_a_multiple_of_4():
    for net in (Retinexformer(), lle.models.build("retinexformer")):
        assert network_input(net) == NetworkInput(SRGB, 3, 1)
        assert input_multiple(net) == 4


# --- the official code's outputs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net() -> Retinexformer:
    net = Retinexformer().eval()
    net.load_state_dict(official_state_dict())
    return net


def test_forward_matches_the_official_code(net, official):
    with torch.no_grad():
        y = net(torch.from_numpy(official["input"])[None])[0]
    assert max_error(y, official["output"]) <= TOLERANCE


def test_odd_sizes_are_padded_as_the_official_test_script_pads(net, official):
    x = torch.from_numpy(official["input_odd"])[None]
    assert tuple(x.shape[-2:]) == (35, 51)
    y = enhance(net, x, tile=None)[0]
    assert max_error(y, official["output_odd"]) <= TOLERANCE


# --- the released weight files --------------------------------------------------------------------------------


def test_imports_a_basicsr_params_file(tmp_path, official):
    path = tmp_path / "LOL_v1.pth"
    torch.save({"params": official_state_dict()}, path)  # what test_from_dataset.py reads
    imported = from_official("retinexformer", path).eval()
    with torch.no_grad():
        y = imported(torch.from_numpy(official["input"])[None])[0]
    assert max_error(y, official["output"]) <= TOLERANCE
    prefixed = tmp_path / "dataparallel.pth"  # the test script's fallback: keys saved from nn.DataParallel
    torch.save({"params": {f"module.{k}": v for k, v in official_state_dict().items()}}, prefixed)
    state = from_official("retinexformer", prefixed).state_dict()
    assert all(torch.equal(state[k], v) for k, v in imported.state_dict().items())


def test_missing_unexpected_and_misshapen_keys_are_named():
    state = official_state_dict()
    missing = "body.0.denoiser.bottleneck.blocks.1.0.rescale"
    extra = "body.0.denoiser.lrelu.weight"
    misshapen = "body.0.estimator.depth_conv.weight"
    for broken, key in [
        ({k: v for k, v in state.items() if k != missing}, missing),
        ({**state, extra: torch.zeros(1)}, extra),
        ({**state, misshapen: torch.zeros(40, 40, 5, 5)}, misshapen),
    ]:
        with pytest.raises(ValueError, match=re.escape(key)):
            from_official("retinexformer", broken)
    with pytest.raises(ValueError, match=r"shape mismatch: body\.0\.denoiser\.embedding\.weight"):
        from_official("retinexformer", state, n_feat=32)
    # The figure's variants have tensors the released code does not (or other shapes).
    with pytest.raises(ValueError, match=r"no counterpart in the official model.*blocks\.0\.0\.norm\.weight"):
        from_official("retinexformer", state, attention_norm=True)
    with pytest.raises(ValueError, match=r"decoder_layers\.1\.2\.blocks\.1\.0\.rescale"):
        from_official("retinexformer", state, decoder_blocks=[2, 2])


# --- the paper's variants and wrong configurations --------------------------------------------------------------


def test_figure_variants_build_and_keep_the_output_size():
    x = torch.rand(1, 3, 20, 28)
    for overrides, parameters in [
        ({"depthwise_9x9": True}, PARAMETERS - 40 * 10 * 25 + 40 * 81),
        ({"attention_norm": True}, PARAMETERS + 2 * (40 + 2 * 80 + 2 * 160 + 2 * 80 + 40)),
        ({"decoder_blocks": [2, 2]}, None),
        ({"multiplicative_light_up": True}, PARAMETERS),
    ]:
        net = Retinexformer(n_feat=40, **overrides).eval()
        if parameters is not None:
            assert count(net) == parameters
        with torch.no_grad():
            assert net(x).shape == x.shape
    one_more_igab = count(Retinexformer(decoder_blocks=[2, 2])) - PARAMETERS
    assert one_more_igab == count(Retinexformer().body[0].denoiser.encoder_layers[0][0])


def test_light_up_is_the_codes_residual_unless_asked():
    net = Retinexformer(n_feat=8).eval()
    paper = Retinexformer(n_feat=8, multiplicative_light_up=True).eval()
    paper.load_state_dict(net.state_dict())
    x = torch.rand(1, 3, 16, 16)
    stage = net.body[0]
    with torch.no_grad():
        feature, light = stage.estimator(x)
        assert torch.allclose(net(x), stage.denoiser(x * light + x, feature))
        assert torch.allclose(paper(x), stage.denoiser(x * light, feature))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"in_channels": 4}, "adapters"),
        ({"num_blocks": [1, 2]}, "3 numbers"),
        ({"decoder_blocks": [1]}, "2 numbers"),
        ({"n_feat": 30}, "multiple of 4"),
    ],
)
def test_configurations_the_code_cannot_build_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        Retinexformer(**overrides)
