"""`lle-export CKPT out.onnx [--torchscript out.pt]`: a checkpoint as ONNX (dynamic batch, height, width).

Each export is checked before it is kept: onnxruntime (or the TorchScript module) must reproduce PyTorch's
output at the tracing size and at a second size, otherwise nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import torch
import torch.nn as nn
import torch.nn.functional as F

from lle.inference import load_model

INSTALL_HINT = 'ONNX export needs the onnx and onnxruntime packages: pip install "lle[export]"'
MIN_OPSET = 17
# Sizes that are not multiples of 8 or of 96, so the traced graph contains each network's padding and
# resizing for arbitrary sizes rather than a shortcut taken at a convenient size. The check size also holds
# a multiple of 8 (no padding) and sizes where ONNX's and PyTorch's nearest rounding disagree (45, 200).
TRACE_SIZE = (1, 131, 173)
CHECK_SIZE = (2, 45, 200)


def _exact_nearest(x: torch.Tensor, size) -> torch.Tensor:
    """PyTorch's `nearest` resize as gathers: source index floor(dst · (in / out)) in float32.

    ONNX's Resize computes dst / (out / in) instead; the two roundings pick different source pixels at some
    sizes (GLADNet's output then moves by up to ~0.08), so the exported graph gathers PyTorch's indices.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    for dim, out in zip((-2, -1), size):
        source = x.shape[dim]  # a traced value under tracing: the graph keeps the size dynamic
        scale = torch.as_tensor(source, dtype=torch.float32) / torch.as_tensor(out, dtype=torch.float32)
        index = (torch.arange(out, dtype=torch.float32) * scale).floor().long()
        x = x.index_select(dim, index.clamp(max=torch.as_tensor(source) - 1))
    return x


@contextlib.contextmanager
def traceable(net: nn.Module, exact_nearest: bool) -> Iterator[nn.Module]:
    """`net` adapted for tracing with dynamic sizes, computing the same function.

    - GLADNet's TF-'SAME' convolutions compute their padding in Python, which tracing freezes at the
      example size; with stride 1 and an odd kernel that padding is k // 2 on every side for any size, so
      those become plain padded convolutions sharing the weights. (Stride-2 ones only see GLADNet's fixed
      96×96 global input, where frozen padding is right.)
    - `exact_nearest` replaces F.interpolate's nearest mode by `_exact_nearest` (for ONNX).
    """
    from lle.models.gladnet import TFSameConv2d

    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, TFSameConv2d) and child.stride == (1, 1) and all(k % 2 for k in child.kernel_size):
                plain = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size,
                                  padding=tuple(k // 2 for k in child.kernel_size), bias=child.bias is not None)
                plain.weight, plain.bias = child.weight, child.bias
                setattr(parent, name, plain)
                swapped.append((parent, name, child))
    original_interpolate = F.interpolate

    def interpolate(input, size=None, scale_factor=None, mode="nearest", *args, **kwargs):
        if mode == "nearest" and size is not None and scale_factor is None and input.dim() == 4:
            return _exact_nearest(input, size)
        return original_interpolate(input, size, scale_factor, mode, *args, **kwargs)

    patch = mock.patch.object(F, "interpolate", interpolate) if exact_nearest else contextlib.nullcontext()
    try:
        with patch:
            yield net
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _check(name: str, run, net: nn.Module, inputs: list[torch.Tensor], tolerance: float) -> float:
    worst = 0.0
    for x in inputs:
        with torch.inference_mode():
            expected, got = net(x), torch.as_tensor(run(x))
        if got.shape != expected.shape:
            raise RuntimeError(f"{name} gives shape {tuple(got.shape)} for input {tuple(x.shape)}, "
                               f"PyTorch {tuple(expected.shape)}")
        worst = max(worst, float((got - expected).abs().max()))
    if worst > tolerance:
        raise RuntimeError(f"{name} differs from PyTorch by up to {worst:.3g} (> {tolerance:g}); not written")
    return worst


def export_onnx(net: nn.Module, path: str | os.PathLike, in_channels: int = 3, opset: int = MIN_OPSET,
                tolerance: float = 1e-4) -> float:
    """Export `net` (eval mode, CPU) to ONNX with dynamic batch/height/width; returns the checked max error."""
    try:
        import onnx  # noqa: F401 — the exporter needs it
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} ({err})") from err
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old: use >= {MIN_OPSET}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    batch, height, width = TRACE_SIZE
    example = torch.rand(batch, in_channels, height, width)
    axes = {0: "batch", 2: "height", 3: "width"}
    try:
        with traceable(net, exact_nearest=True), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice and tracer warnings of the legacy exporter
            # The TorchScript-based exporter: quick, no onnxscript needed, and dynamic sizes via dynamic_axes.
            torch.onnx.export(net, (example,), str(tmp), dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": axes, "output": axes})
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        inputs = [example, torch.rand(CHECK_SIZE[0], in_channels, *CHECK_SIZE[1:])]
        worst = _check("onnxruntime", lambda x: session.run(None, {"input": x.numpy()})[0], net, inputs, tolerance)
        os.replace(tmp, path)  # atomic: never a half-written file
        return worst
    finally:
        tmp.unlink(missing_ok=True)


def export_torchscript(net: nn.Module, path: str | os.PathLike, in_channels: int = 3,
                       tolerance: float = 1e-4) -> float:
    """Trace `net` to TorchScript (sizes stay dynamic); returns the checked max error."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    batch, height, width = TRACE_SIZE
    example = torch.rand(batch, in_channels, height, width)
    try:
        with traceable(net, exact_nearest=False), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(net, example, check_trace=False)
        inputs = [example, torch.rand(CHECK_SIZE[0], in_channels, *CHECK_SIZE[1:])]
        worst = _check("the TorchScript module", traced, net, inputs, tolerance)
        traced.save(str(tmp))
        os.replace(tmp, path)  # atomic: never a half-written file
        return worst
    finally:
        tmp.unlink(missing_ok=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lle-export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("checkpoint", help="an lle checkpoint, or official:<name>:<weights file>")
    parser.add_argument("onnx", type=Path, nargs="?", help="the ONNX file to write")
    parser.add_argument("--torchscript", type=Path, help="also write a traced TorchScript module here")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (>= {MIN_OPSET})")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted difference from PyTorch")
    args = parser.parse_args(argv)
    if args.onnx is None and args.torchscript is None:
        parser.error("give an ONNX output file, --torchscript FILE, or both")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        model = load_model(args.checkpoint, device="cpu")
        net, in_channels = model.net, model.info.in_channels
        if args.onnx is not None:
            worst = export_onnx(net, args.onnx, in_channels, args.opset, args.tolerance)
            print(f"wrote {args.onnx} (opset {args.opset}; max difference from PyTorch {worst:.2g})")
        if args.torchscript is not None:
            worst = export_torchscript(net, args.torchscript, in_channels, args.tolerance)
            print(f"wrote {args.torchscript} (max difference from PyTorch {worst:.2g})")
    except (OSError, ValueError, ImportError, RuntimeError) as err:
        print(f"lle-export: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
