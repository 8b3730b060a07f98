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
# Between them, Retinex-Net's stride-2 'SAME' convs meet both odd and even sizes (their padding differs).
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


class _TraceableSameConv2d(nn.Module):
    """A `TFSameConv2d` (shared weights) whose 'SAME' padding is computed with tensor ops.

    `TFSameConv2d` computes its padding with Python's `math.ceil`, which tracing freezes at the example
    size; for stride 2 the padding depends on the parity of the size (Retinex-Net's RelightNet), so a
    frozen graph shifts the sampling grid at sizes of the other parity. Under tracing the sizes are traced
    values, and these tensor ops keep the padding a function of them.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.conv.kernel_size), reversed(self.conv.stride)):
            size = torch.as_tensor(size)
            total = (((size + s - 1) // s - 1) * s + k - size).clamp(min=0)  # (ceil(size/s) - 1)·s + k − size
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.conv.weight, self.conv.bias, self.conv.stride)


def _traceable_avg_pool_at_most(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """ALEN's `_avg_pool_at_most` (kernel min(kernel, side), stride = kernel, floor mode) as crop, reshape
    and mean, so the kernel, which shrinks on maps smaller than it, stays a function of the traced size
    (`avg_pool2d` takes its kernel as Python ints, which tracing freezes)."""
    b, c, h, w = x.shape
    kh, kw = torch.as_tensor(h).clamp(max=kernel), torch.as_tensor(w).clamp(max=kernel)
    oh, ow = h // kh, w // kw
    blocks = x[:, :, : oh * kh, : ow * kw].reshape(b, c, oh, kh, ow, kw)
    return blocks.mean(dim=(3, 5))


def _traceable_same_conv(conv: nn.Conv2d) -> nn.Module:
    """A traceable equivalent of a `TFSameConv2d`, sharing its weights.

    With stride 1 and an odd kernel 'SAME' is k // 2 on every side for any size: a plain padded conv
    (one ONNX Conv, no Pad); otherwise the padding is computed from the traced size.
    """
    if conv.stride != (1, 1) or not all(k % 2 for k in conv.kernel_size):
        return _TraceableSameConv2d(conv)
    plain = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                      padding=tuple(k // 2 for k in conv.kernel_size), bias=conv.bias is not None)
    plain.weight, plain.bias = conv.weight, conv.bias
    return plain


def _swap_same_convs(net: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every `TFSameConv2d` in `net` by `_traceable_same_conv`; returns what to put back."""
    from lle.models.blocks import TFSameConv2d

    swapped = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, TFSameConv2d):
                setattr(parent, name, _traceable_same_conv(child))
                swapped.append((parent, name, child))
    return swapped


@contextlib.contextmanager
def traceable(net: nn.Module, exact_nearest: bool) -> Iterator[nn.Module]:
    """`net` adapted for tracing with dynamic sizes, computing the same function.

    - TF-'SAME' convolutions (GLADNet, Retinex-Net) compute their padding with tensor ops.
    - ALEN's non-local pooling keeps its size-dependent kernel.
    - `exact_nearest` replaces F.interpolate's nearest mode by `_exact_nearest` (for ONNX).
    """
    import lle.models.alen

    original_interpolate = F.interpolate

    def interpolate(input, size=None, scale_factor=None, mode="nearest", *args, **kwargs):
        if mode == "nearest" and size is not None and scale_factor is None and input.dim() == 4:
            return _exact_nearest(input, size)
        return original_interpolate(input, size, scale_factor, mode, *args, **kwargs)

    with contextlib.ExitStack() as patches:
        patches.enter_context(mock.patch.object(lle.models.alen, "_avg_pool_at_most", _traceable_avg_pool_at_most))
        if exact_nearest:
            patches.enter_context(mock.patch.object(F, "interpolate", interpolate))
        swapped = _swap_same_convs(net)
        try:
            yield net
        finally:
            for parent, name, child in swapped:
                setattr(parent, name, child)


def _refuse_untraceable(net: nn.Module) -> None:
    """Fail with a clear message on steps that tracing cannot capture (instead of an onnxruntime error)."""
    if getattr(net, "bm3d_sigma", None) is not None:
        raise ValueError(f"Retinex-Net's BM3D step (bm3d_sigma={net.bm3d_sigma}) runs in NumPy and cannot be part "
                         f"of an exported graph; export a checkpoint whose model.net.bm3d_sigma is null")


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
    _refuse_untraceable(net)
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
    _refuse_untraceable(net)
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
