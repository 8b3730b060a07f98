"""`lle-export`: the ONNX graph and the TorchScript module compute what PyTorch computes, at any size."""

import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

import lle.cli.export
import lle.export
import lle.models
from lle.cli.export import main
from lle.export import export_onnx, export_torchscript
from lle.inference import load_model


def _assert_exports_match(net, onnx_path, torchscript_path, shapes):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    scripted = torch.jit.load(str(torchscript_path))
    for shape in shapes:
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = net(x)
            np.testing.assert_allclose(scripted(x).numpy(), expected.numpy(), atol=1e-4, rtol=0)
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)


def test_onnx_and_torchscript_match_pytorch_at_two_sizes(checkpoint, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    assert main([str(checkpoint), str(tmp_path / "gladnet.onnx"), "--torchscript", str(tmp_path / "gladnet.pt")]) == 0
    assert "wrote" in capsys.readouterr().out
    # Neither size is a multiple of GLADNet's 96×96 global input: ONNX's own nearest resize would round
    # differently from PyTorch's there.
    _assert_exports_match(
        load_model(checkpoint).net, tmp_path / "gladnet.onnx", tmp_path / "gladnet.pt", [(1, 3, 64, 80), (2, 3, 97, 45)]
    )


def test_an_export_never_replaces_its_checkpoint_and_asks_before_replacing_a_file(checkpoint, tmp_path, capsys):
    original = checkpoint.read_bytes()
    for outputs in ([str(checkpoint)], [str(tmp_path / "a.onnx"), "--torchscript", str(checkpoint)]):
        with pytest.raises(SystemExit) as refused:
            main([str(checkpoint), *outputs, "--overwrite"])
        assert refused.value.code == 2 and "is the model file being exported" in capsys.readouterr().err
    assert checkpoint.read_bytes() == original
    existing = tmp_path / "model.pt"
    existing.write_text("someone's file")
    with pytest.raises(SystemExit):
        main([str(checkpoint), "--torchscript", str(existing)])
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert existing.read_text() == "someone's file"
    with pytest.raises(SystemExit):
        main([str(checkpoint), str(tmp_path / "same"), "--torchscript", str(tmp_path / "same")])
    assert "are the same file" in capsys.readouterr().err
    assert main([str(checkpoint), "--torchscript", str(existing), "--overwrite"]) == 0
    assert "not clamped" in capsys.readouterr().out
    assert torch.jit.load(str(existing))(torch.rand(1, 3, 40, 40)).shape == (1, 3, 40, 40)


# Reduced widths where the network allows it (ALEN's widths are fixed); ABSGN's and ALEN's input is given
# explicitly, since their defaults follow the data config. Retinex-Net's sizes halve to odd and even sides in
# its stride-2 'SAME' convs, whose padding depends on the parity; ALEN's packed 4-channel input at 20×36 pools
# its deepest non-local maps with a kernel shrunk below 4. ABSGN and ALEN take ~20 s.
EXPORTED_NETWORKS = [
    pytest.param("retinexnet", {"channel": 8}, 3, [(1, 3, 37, 51), (2, 3, 64, 48)], id="retinexnet"),
    pytest.param(
        "absgn",
        {"start_channels": 8, "in_channels": 3, "upscale": 1},
        3,
        [(1, 3, 37, 51), (2, 3, 64, 48)],
        id="absgn",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "alen",
        {"in_channels": 4, "srgb_input": False, "upscale": 2},
        4,
        [(1, 4, 37, 51), (2, 4, 20, 36)],
        id="alen",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize(("name", "overrides", "in_channels", "shapes"), EXPORTED_NETWORKS)
def test_network_exports_with_dynamic_sizes(name, overrides, in_channels, shapes, tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = lle.models.build(name, **overrides).eval()
    export_onnx(net, tmp_path / "net.onnx", in_channels)
    export_torchscript(net, tmp_path / "net.pt", in_channels)
    _assert_exports_match(net, tmp_path / "net.onnx", tmp_path / "net.pt", shapes)


def test_retinexnet_bm3d_is_refused_with_a_clear_message(tmp_path):
    net = lle.models.build("retinexnet", channel=4, layer_num=1, bm3d_sigma=0.05).eval()
    with pytest.raises(ValueError, match=r"BM3D step .* cannot be part of an exported graph"):
        export_torchscript(net, tmp_path / "net.pt")
    assert list(tmp_path.iterdir()) == []


class SizeDependent(nn.Module):
    """Branches on the width in Python, so tracing freezes the branch taken at the tracing size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.shape[-1] < 180 else x


def test_an_export_that_disagrees_with_pytorch_is_not_written(tmp_path):
    pytest.importorskip("onnxruntime")
    with pytest.raises(RuntimeError, match="differs from PyTorch"):
        export_onnx(SizeDependent(), tmp_path / "wrong.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_names_the_extra_to_install(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    assert main([str(checkpoint), str(tmp_path / "model.onnx")]) == 1
    assert 'pip install "lle[export]"' in capsys.readouterr().err
    assert not (tmp_path / "model.onnx").exists()


def test_the_old_import_path_of_the_command_line_still_works():
    from lle.export import main as old_main

    assert old_main is lle.cli.export.main and lle.export.parse_args is lle.cli.export.parse_args
    with pytest.raises(AttributeError):
        lle.export.no_such_name  # noqa: B018 — the module's __getattr__ must not swallow other names


def test_exporting_leaves_the_network_as_it_was(tmp_path):
    """The layers trace themselves: export swaps no module and patches no function."""
    torch.manual_seed(0)
    net = lle.models.build("retinexnet", channel=4, layer_num=1).eval()
    modules, state = list(net.modules()), {k: v.clone() for k, v in net.state_dict().items()}
    export_torchscript(net, tmp_path / "net.pt")
    assert list(net.modules()) == modules
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]  # no temporary file left beside it


def test_of_two_exports_to_one_new_file_one_says_it_lost(checkpoint, tmp_path, monkeypatch, capsys):
    # The other export publishes the file after this one's start-up check and before its own file is complete.
    target = tmp_path / "model.onnx"
    check = lle.export._check

    def the_other_export_first(*args, **kwargs):
        target.write_bytes(b"the other export")
        return check(*args, **kwargs)

    monkeypatch.setattr(lle.export, "_check", the_other_export_first)
    assert main([str(checkpoint), str(target)]) == 1
    assert target.read_bytes() == b"the other export"
    assert "model.onnx exists (written meanwhile by another process)" in capsys.readouterr().err
