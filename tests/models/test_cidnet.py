"""HVI-CIDNet (docs/specs/cidnet.md): the official parameter count, the official code's outputs and loss, the HVI
transform, the released weight formats.

The fixtures in tests/models/data/official/ were made with the official code (`Fediory/HVI-CIDNet` @ eb43d7d,
`net/*.py`, `loss/losses.py`, `loss/vgg_arch.py`, run with einops 0.8 and torch 2.13 on CPU, outside this
repository; the `.cuda()` calls made no-ops and torchvision's VGG-19 replaced by a stand-in with its `features`
layout). `CIDNet()` gave its state-dict keys and shapes (`cidnet_official_state_dict.tsv`), was loaded with the
seeded values `official_state_dict` regenerates here, and recorded (`cidnet_outputs.npz`):

* `hvi`: `model.trans.HVIT` of a fixed 32×48 low-light input (8-bit levels, with black, grey and tied pixels);
* `output`: `model(input)` in eval mode as `eval.py --lol` runs it (`trans.gated = True`, α_s = 1.3);
* `output_train`: ungated, as in training; `output_v2real`: `gated2` with α = 0.84 and the input raised to 0.9;
* `output_odd`: a 37×53 input padded and cropped as `eval_hf.py` does (reflect at the bottom/right to a multiple of
  8), LOL-v1 gating;
* `loss`, `loss_grad_k`: train.py's loss (`loss_rgb + HVI_weight · loss_hvi`, without the VGG term) of
  `output_train` against `loss_target`, and its gradient with respect to `trans.density_k`; `loss_perc`,
  `loss_perc_grad_k`: the same with `P_weight = 0.01` and a VGG-19 seeded as `vgg19_state_dict` does.
"""

from __future__ import annotations

import csv
import functools
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import lle.models
from lle.inference import enhance
from lle.losses.cidnet import CIDNetLoss
from lle.models.checkpoint_files import read_safetensors
from lle.models.cidnet import CIDNet, HVITransform, rgb_to_hvi
from lle.models.interface import SRGB, NetworkInput, input_multiple, network_input
from lle.models.official import _SIGNATURES
from lle.models.official_cidnet import import_cidnet

DATA = Path(__file__).resolve().parent / "data" / "official"
TOLERANCE = 1e-4
PARAMETERS = 1_975_569  # sum of numel over the official CIDNet()'s parameters (the paper says 1.88 M)
GAIN = 0.5


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def seeded(key: str, shape: list[int]) -> torch.Tensor:
    """The fixture's value of official tensor `key`: He-scaled convs (× GAIN), LayerNorms near (1, 0), PReLU slopes
    near 0.25, k near its 0.2, attention temperatures near 4 (so a softmax over the wrong axis would show)."""
    g = torch.Generator().manual_seed(zlib.crc32(f"cidnet:{key}".encode()))
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if key.endswith("norm.weight"):
        value = 1 + 0.1 * x
    elif key.endswith("norm.bias"):
        value = 0.05 * x
    elif key.endswith("temperature"):
        value = 4 + x
    elif key == "trans.density_k":
        value = 0.2 + 0.02 * x
    elif key.endswith("prelu.weight"):
        value = 0.25 + 0.05 * x
    else:
        value = x * GAIN * (2.0 / (int(np.prod(shape)) // shape[0])) ** 0.5
    return value.to(torch.float32)


@functools.cache
def _official_state_dict() -> dict[str, torch.Tensor]:
    with (DATA / "cidnet_official_state_dict.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {row["key"]: seeded(row["key"], [int(s) for s in row["shape"].split("x")]) for row in rows}


def official_state_dict() -> dict[str, torch.Tensor]:
    """The official state dict (keys, order and shapes as stored) with the fixture's seeded values."""
    return dict(_official_state_dict())


def vgg19_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's VGG-19 `features.0` … `features.25` (conv1_1 … conv4_4) with the fixture's seeded values."""
    state = {}
    width = 3
    index = 0
    for block, (channels, convs) in enumerate(((64, 2), (128, 2), (256, 4), (512, 4))):
        index += 1 if block else 0  # the max-pool before each block after the first
        for _ in range(convs):
            for leaf, shape in (("weight", [channels, width, 3, 3]), ("bias", [channels])):
                key = f"features.{index}.{leaf}"
                g = torch.Generator().manual_seed(zlib.crc32(f"vgg19:{key}".encode()))
                std = (2.0 / (width * 9)) ** 0.5 if leaf == "weight" else 0.05
                state[key] = (torch.randn(shape, generator=g, dtype=torch.float64) * std).to(torch.float32)
            index += 2  # the conv and its ReLU
            width = channels
    return state


@pytest.fixture(scope="module")
def official() -> dict[str, np.ndarray]:
    return dict(np.load(DATA / "cidnet_outputs.npz"))


@pytest.fixture(scope="module")
def net() -> CIDNet:
    net = CIDNet().eval()
    net.load_state_dict(official_state_dict())
    return net


def max_error(y: torch.Tensor, expected: np.ndarray) -> float:
    assert tuple(y.shape) == expected.shape
    assert np.abs(expected).mean() > 1e-2  # a non-trivial output
    return float(np.abs(y.detach().numpy() - expected).max())


# --- the official network -----------------------------------------------------------------------------------


def test_parameter_count_matches_the_official_code():
    net = CIDNet()
    assert count(net) == PARAMETERS
    assert count(lle.models.build("cidnet")) == PARAMETERS
    per_block = {name: count(m) for name, m in net.named_children() if name.endswith("LCA3") or name == "trans"}
    assert per_block == {"HV_LCA3": 266_372, "I_LCA3": 266_372, "trans": 1}
    # norm=True: a LayerNorm (weight, bias) after each of the 2 × 6 resampling blocks.
    assert count(CIDNet(norm=True)) == PARAMETERS + 2 * 2 * (36 + 72 + 144 + 72 + 36 + 36)


def test_state_dict_has_the_official_keys_and_shapes():
    ours = CIDNet().state_dict()
    theirs = official_state_dict()
    assert sorted(ours) == sorted(theirs) and len(theirs) == 191
    assert all(ours[k].shape == v.shape for k, v in theirs.items())
    assert _SIGNATURES["cidnet"] in theirs


def test_official_initialisation():
    net = CIDNet()
    assert net.trans.density_k.item() == pytest.approx(0.2)
    assert all(m.temperature.eq(1).all() for name, m in net.named_modules() if name.endswith("ffn"))
    assert all(m.weight.eq(0.25).all() for m in net.modules() if isinstance(m, nn.PReLU))
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))


def test_declares_srgb_input_padded_to_a_multiple_of_8():
    for net in (CIDNet(), lle.models.build("cidnet")):
        assert network_input(net) == NetworkInput(SRGB, 3, 1)
        assert input_multiple(net) == 8


# --- the official code's outputs ----------------------------------------------------------------------------


def test_hvi_transform_matches_the_official_code(net, official):
    hvi = net.trans(torch.from_numpy(official["input"])[None])[0]
    assert max_error(hvi, official["hvi"]) <= 1e-6


def test_forward_matches_the_official_code(net, official):
    x = torch.from_numpy(official["input"])[None]
    with torch.no_grad():
        assert max_error(net(x)[0], official["output"]) <= TOLERANCE  # eval.py --lol: gated, α_s = 1.3
        net.train()
        try:
            assert max_error(net(x)[0], official["output_train"]) <= TOLERANCE  # train.py: ungated
        finally:
            net.eval()
        lol_v2_real = CIDNet(gated=False, gated2=True, alpha_i=0.84, gamma=0.9).eval()
        lol_v2_real.load_state_dict(official_state_dict())
        assert max_error(lol_v2_real(x)[0], official["output_v2real"]) <= TOLERANCE


def test_odd_sizes_are_padded_as_the_official_eval_pads(net, official):
    x = torch.from_numpy(official["input_odd"])[None]
    assert tuple(x.shape[-2:]) == (37, 53)  # padded to 40×56
    y = enhance(net, x, tile=None)[0]
    assert max_error(y, official["output_odd"]) <= TOLERANCE


def test_paper_wiring_uses_the_dropped_lca_outputs(net, official):
    paper = CIDNet(paper_wiring=True).eval()
    paper.load_state_dict(official_state_dict())  # same tensors, another function
    x = torch.from_numpy(official["input"])[None]
    with torch.no_grad():
        assert max_error(paper(x)[0], official["output"]) > 1e-2
    # Official wiring: I_LCA5 takes no part (its output is dropped), so it gets no gradient.
    net.train()
    try:
        net(x).mean().backward()
        assert all(p.grad is None for p in net.I_LCA5.parameters())
        assert all(p.grad is not None for p in net.HV_LCA5.parameters())
    finally:
        net.zero_grad(set_to_none=True)
        net.eval()


# --- the HVI transform ---------------------------------------------------------------------------------------


def test_rgb_to_hvi_and_back_is_the_identity():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, 24, 24, generator=g)
    rgb[:, :, :4] = torch.round(rgb[:, :, :4] * 4) / 4  # ties, greys, black and white
    rgb[0, :, 0, 0] = 0
    transform = HVITransform()
    hvi = transform(rgb)
    assert hvi[:, 2].equal(rgb.amax(dim=1))  # I = max(R, G, B)
    assert hvi[:, :2].abs().max() <= 1
    back = transform.inverse(hvi)
    # ε = 1e-8 under the square root of the saturation bounds the error at √ε·I.
    assert (back - rgb).abs().max() <= 1e-4
    # A larger exponent collapses the colours of dark pixels more; H² + V² = (C_k S)², whatever the hue.
    with torch.no_grad():
        transform.density_k.fill_(1.0)
        stronger = transform(rgb)
        assert (stronger[:, :2].norm(dim=1) <= hvi[:, :2].norm(dim=1) + 1e-6).all()
        assert (transform.inverse(stronger) - rgb).abs().max() <= 1e-4


def test_gains_act_on_saturation_and_intensity():
    transform = HVITransform(alpha_s=1.3, alpha_i=0.8)
    rgb = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    hvi = transform(rgb)
    plain, saturated, dimmed = (
        transform.inverse(hvi),
        transform.inverse(hvi, gated=True),
        transform.inverse(hvi, gated2=True),
    )
    assert torch.allclose(dimmed, 0.8 * plain)
    # The gate keeps V = max(R, G, B) and scales the saturation 1 − min/max.
    assert saturated.amax().item() == pytest.approx(plain.amax().item(), abs=1e-6)
    assert (1 - saturated.amin() / saturated.amax()).item() == pytest.approx(1.3 * (1 - 0.3 / 0.5), abs=1e-4)


# --- the official loss ----------------------------------------------------------------------------------------


def test_loss_matches_the_official_loss_and_trains_density_k(official, tmp_path):
    pred = torch.from_numpy(official["output_train"])[None].requires_grad_()
    target = torch.from_numpy(official["loss_target"])[None]
    holder = CIDNet(channels=(4, 4, 8, 16))  # only its transform takes part
    with torch.no_grad():
        holder.trans.density_k.copy_(official_state_dict()["trans.density_k"])
    vgg = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(vgg19_state_dict(), vgg)
    for key, loss in [
        ("loss", CIDNetLoss()),
        ("loss_perc", CIDNetLoss(perceptual_weight=0.01, vgg_weights=str(vgg))),
    ]:
        value = loss.attach(holder)(pred, target)
        (grad_k,) = torch.autograd.grad(value, holder.trans.density_k)
        assert value.item() == pytest.approx(float(official[key]), rel=1e-5)
        assert grad_k.item() == pytest.approx(float(official[f"{key}_grad_k"]), rel=1e-4)
        assert not loss.state_dict()  # nothing of the loss (nor the VGG) lands in lle's checkpoints
    unattached = CIDNetLoss(density_k=holder.trans.density_k.item())
    assert unattached(pred, target).item() == pytest.approx(float(official["loss"]), rel=1e-5)
    assert not CIDNetLoss().attach(nn.Conv2d(3, 3, 1)).shares_density_k  # another network: the constant k


def test_loss_hvi_terms_follow_the_shared_transform():
    net = CIDNet(channels=(4, 4, 8, 16))
    loss = CIDNetLoss().attach(net)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        net.trans.density_k.fill_(0.5)
    assert torch.equal(loss.hvi(x), rgb_to_hvi(x, net.trans.density_k))
    assert not torch.allclose(loss.hvi(x), CIDNetLoss().hvi(x))  # unattached: the official initial k = 0.2


# --- the released weight files --------------------------------------------------------------------------------


def write_safetensors(path: Path, state: dict[str, torch.Tensor]) -> None:
    """A `.safetensors` file as the safetensors package writes one (header length, JSON header, raw data)."""
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for key, tensor in state.items():
        blob = tensor.contiguous().numpy().astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + b"".join(blobs))


def test_imports_a_released_pth_file(tmp_path, official):
    path = tmp_path / "wo_perc.pth"
    torch.save(official_state_dict(), path)  # train.py's checkpoint(): torch.save(model.state_dict())
    imported = import_cidnet(path).eval()
    with torch.no_grad():
        y = imported(torch.from_numpy(official["input"])[None])[0]
    assert max_error(y, official["output"]) <= TOLERANCE


def test_imports_a_hugging_face_folder(tmp_path, official):
    folder = tmp_path / "HVI-CIDNet-LOLv1-wperc"
    folder.mkdir()
    write_safetensors(folder / "model.safetensors", official_state_dict())
    (folder / "config.json").write_text(
        json.dumps({"channels": [36, 36, 72, 144], "heads": [1, 2, 4, 8], "norm": False})
    )
    assert all(
        torch.equal(v, official_state_dict()[k]) for k, v in read_safetensors(folder / "model.safetensors").items()
    )
    imported = import_cidnet(folder).eval()
    with torch.no_grad():
        y = imported(torch.from_numpy(official["input"])[None])[0]
    assert max_error(y, official["output"]) <= TOLERANCE
    # The stored configuration is used (a narrower network would not take these weights).
    (folder / "config.json").write_text(json.dumps({"channels": [4, 4, 8, 16], "heads": [1, 2, 4, 8]}))
    with pytest.raises(ValueError, match=r"shape mismatch: HVE_block0\.1\.weight"):
        import_cidnet(folder)


def test_damaged_and_foreign_files_are_named(tmp_path):
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {"HVE_block0.1.weight": torch.zeros(36, 3, 3, 3)})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"HVE_block0\.1\.weight is truncated"):
        read_safetensors(path)
    path.write_bytes(b"\x00" * 4)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        read_safetensors(path)
    empty = tmp_path / "snapshot"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"holds none of model\.safetensors, pytorch_model\.bin"):
        import_cidnet(empty)


def test_missing_unexpected_and_misshapen_keys_are_named():
    state = official_state_dict()
    missing = "I_LCA5.ffn.temperature"  # a block the official forward never uses still has its keys
    extra = "HVE_block1.norm.weight"
    misshapen = "HV_LCA2.gdfn.project_in.weight"
    for broken, key in [
        ({k: v for k, v in state.items() if k != missing}, missing),
        ({**state, "trans.this_k": torch.zeros(1)}, "trans.this_k"),
        ({**state, misshapen: torch.zeros(190, 72, 1, 1)}, misshapen),
    ]:
        with pytest.raises(ValueError, match=re.escape(key)):
            import_cidnet(broken)
    # A checkpoint with the resampling blocks' LayerNorms is read as norm=True, and then lacks the others.
    with pytest.raises(ValueError, match=r"missing keys.*HVE_block2\.norm\.weight"):
        import_cidnet({**state, extra: torch.ones(36), "HVE_block1.norm.bias": torch.zeros(36)})
    with pytest.raises(ValueError, match=r"unexpected keys.*HVE_block1\.norm\.weight"):
        import_cidnet({**state, extra: torch.ones(36)}, norm=False)


def test_configurations_the_code_cannot_build_are_refused():
    with pytest.raises(ValueError, match="attention heads"):
        CIDNet(channels=(36, 36, 70, 144))
