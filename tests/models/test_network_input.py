"""Every network declares what it takes (`lle.models.interface`): channels, input kind, upscale."""

import pytest

import lle.models
from lle.models.interface import RAW_BAYER, RAW_XTRANS, SRGB, NetworkInput, kind_of_channels, network_input

SRGB_SAME_SIZE = NetworkInput(SRGB, 3, 1)
# Models whose input does not depend on the data: sRGB in, an image of the same size out.
FIXED = dict.fromkeys(
    (
        "cidnet",
        "clahe",
        "dong2011",
        "gamma",
        "gladnet",
        "he",
        "lime",
        "mirnet",
        "mirnet_v2",
        "retinexformer",
        "retinexnet",
    ),
    SRGB_SAME_SIZE,
)
# Models whose constructor arguments follow the data config (packed RAW or sRGB).
FOLLOWS_DATA = ("absgn", "alen", "alen_quick")


@pytest.mark.parametrize("name", lle.models.available())
def test_every_model_declares_its_input(name):
    assert name in FIXED or name in FOLLOWS_DATA, f"add the input {name!r} takes to this test"
    net = lle.models.build(name)
    for attribute in ("in_channels", "input_kind", "upscale"):
        assert hasattr(net, attribute), f"{type(net).__name__} does not declare {attribute}"  # not a fallback
    declared = network_input(net)
    if name in FIXED:
        assert declared == FIXED[name]
    else:  # what the default data config makes of the arguments
        net_cfg = lle.models.model_config(name).net
        net_cfg = net_cfg.get("net", net_cfg)  # inside a wrapper (alen_quick's exposure normalisation)
        assert declared.channels == net_cfg.in_channels
        assert declared.kind == kind_of_channels(declared.channels)
        assert declared.upscale == (net_cfg.upscale or (1 if declared.kind == SRGB else 2))


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("alen", {"in_channels": 4, "srgb_input": False, "upscale": None}, NetworkInput(RAW_BAYER, 4, 2)),
        ("alen", {"in_channels": 9, "srgb_input": False, "upscale": 3}, NetworkInput(RAW_XTRANS, 9, 3)),
        ("alen", {"in_channels": 3, "srgb_input": True, "upscale": None}, SRGB_SAME_SIZE),
        ("absgn", {"in_channels": 3, "upscale": 1, "start_channels": 8}, SRGB_SAME_SIZE),
        ("absgn", {"in_channels": 4, "upscale": 2, "start_channels": 8}, NetworkInput(RAW_BAYER, 4, 2)),
        ("absgn", {"in_channels": 9, "upscale": 3, "start_channels": 8}, NetworkInput(RAW_XTRANS, 9, 3)),
        ("mirnet_v2", {"inp_channels": 3, "out_channels": 3}, SRGB_SAME_SIZE),  # the official argument name
    ],
)
def test_raw_and_srgb_options_are_declared(name, overrides, expected):
    assert network_input(lle.models.build(name, **overrides)) == expected
