"""`lle-export`: the ONNX graph and the TorchScript module compute what PyTorch computes, at any size."""

import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

from lle.export import export_onnx, main
from lle.inference import load_model



def test_onnx_and_torchscript_match_pytorch_at_two_sizes(checkpoint, tmp_path, capsys):
    assert main([str(checkpoint), str(tmp_path / "gladnet.onnx"), "--torchscript", str(tmp_path / "gladnet.pt")]) == 0
    assert "wrote" in capsys.readouterr().out
    net = load_model(checkpoint).net
    session = ort.InferenceSession(str(tmp_path / "gladnet.onnx"), providers=["CPUExecutionProvider"])
    scripted = torch.jit.load(str(tmp_path / "gladnet.pt"))
    # Neither size is a multiple of GLADNet's 96×96 global input: ONNX's own nearest resize would round
    # differently from PyTorch's there.
    for shape in [(1, 3, 64, 80), (2, 3, 97, 45)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = net(x)
            np.testing.assert_allclose(scripted(x).numpy(), expected.numpy(), atol=1e-4, rtol=0)
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == shape
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)


class SizeDependent(nn.Module):
    """Branches on the width in Python, so tracing freezes the branch taken at the tracing size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.shape[-1] < 180 else x


def test_an_export_that_disagrees_with_pytorch_is_not_written(tmp_path):
    with pytest.raises(RuntimeError, match="differs from PyTorch"):
        export_onnx(SizeDependent(), tmp_path / "wrong.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_names_the_extra_to_install(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    assert main([str(checkpoint), str(tmp_path / "model.onnx")]) == 1
    assert 'pip install "lle[export]"' in capsys.readouterr().err
    assert not (tmp_path / "model.onnx").exists()
