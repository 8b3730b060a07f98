"""Export a network as ONNX (dynamic batch, height, width) or as a traced TorchScript module.

Each export is checked before it is kept: onnxruntime (or the TorchScript module) must reproduce PyTorch's
output at the tracing size and at a second size, otherwise nothing is written. The networks are traced as
they are: the layers whose eager code would freeze a size at tracing time (TF-'SAME' padding, ALEN's
size-dependent pooling, the nearest resize) switch to size-generic tensor ops themselves while traced
(`lle.models.blocks`, `lle.models.alen`).

The exported graph returns what the network returns: **not clamped** to [0, 1] (lle clamps only to score
or save an image), so clamp the output before writing it as an image.

The command line, `lle-export`, is `lle.cli.export`.
"""

from __future__ import annotations

import io
import os
import warnings

import torch
import torch.nn as nn

from lle.atomic import atomic_path

INSTALL_HINT = 'ONNX export needs the onnx and onnxruntime packages: pip install "lle[export]"'
MIN_OPSET = 17
# Sizes that are not multiples of 8 or of 96, so the traced graph contains each network's padding and
# resizing for arbitrary sizes rather than a shortcut taken at a convenient size. The check size also holds
# a multiple of 8 (no padding) and sizes where ONNX's and PyTorch's nearest rounding disagree (45, 200).
# Between them, Retinex-Net's stride-2 'SAME' convs meet both odd and even sizes (their padding differs).
TRACE_SIZE = (1, 131, 173)
CHECK_SIZE = (2, 45, 200)


def _refuse_untraceable(net: nn.Module) -> None:
    """Fail with a clear message on steps that tracing cannot capture (instead of an onnxruntime error)."""
    if getattr(net, "bm3d_sigma", None) is not None:
        raise ValueError(
            f"Retinex-Net's BM3D step (bm3d_sigma={net.bm3d_sigma}) runs in NumPy and cannot be part "
            f"of an exported graph; export a checkpoint whose model.net.bm3d_sigma is null"
        )


def _check(name: str, run, net: nn.Module, inputs: list[torch.Tensor], tolerance: float) -> float:
    worst = 0.0
    for x in inputs:
        with torch.inference_mode():
            expected, got = net(x), torch.as_tensor(run(x))
        if got.shape != expected.shape:
            raise RuntimeError(
                f"{name} gives shape {tuple(got.shape)} for input {tuple(x.shape)}, PyTorch {tuple(expected.shape)}"
            )
        worst = max(worst, float((got - expected).abs().max()))
    if worst > tolerance:
        raise RuntimeError(f"{name} differs from PyTorch by up to {worst:.3g} (> {tolerance:g}); not written")
    return worst


def _inputs(in_channels: int) -> list[torch.Tensor]:
    """The tracing example (first) and the second, differently sized check input."""
    return [
        torch.rand(TRACE_SIZE[0], in_channels, *TRACE_SIZE[1:]),
        torch.rand(CHECK_SIZE[0], in_channels, *CHECK_SIZE[1:]),
    ]


def export_onnx(
    net: nn.Module,
    path: str | os.PathLike,
    in_channels: int = 3,
    opset: int = MIN_OPSET,
    tolerance: float = 1e-4,
    replace: bool = True,
) -> float:
    """Export `net` (eval mode, CPU) to ONNX with dynamic batch/height/width; returns the checked max error.
    `replace=False`: `FileExistsError` where another process wrote `path` meanwhile (`lle.atomic`)."""
    try:
        import onnx  # noqa: F401 — the exporter needs it
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} ({err})") from err
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old: use >= {MIN_OPSET}")
    _refuse_untraceable(net)
    inputs = _inputs(in_channels)
    axes = {0: "batch", 2: "height", 3: "width"}
    # The file is checked where it was written; a failed check (or export) leaves `path` as it was.
    with atomic_path(path, replace) as partial:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice and tracer warnings of the legacy exporter
            # The TorchScript-based exporter: quick, no onnxscript needed, and dynamic sizes via dynamic_axes.
            torch.onnx.export(
                net,
                (inputs[0],),
                str(partial),
                dynamo=False,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": axes, "output": axes},
            )
        session = ort.InferenceSession(str(partial), providers=["CPUExecutionProvider"])
        return _check("onnxruntime", lambda x: session.run(None, {"input": x.numpy()})[0], net, inputs, tolerance)


def export_torchscript(
    net: nn.Module, path: str | os.PathLike, in_channels: int = 3, tolerance: float = 1e-4, replace: bool = True
) -> float:
    """Trace `net` to TorchScript (sizes stay dynamic); returns the checked max error (`replace`: as ONNX's)."""
    _refuse_untraceable(net)
    inputs = _inputs(in_channels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python values, which the check below covers
        traced = torch.jit.trace(net, inputs[0], check_trace=False)
    worst = _check("the TorchScript module", traced, net, inputs, tolerance)
    # Serialised in memory, then written by Python: torch's own file writer aborts the whole process on a full
    # disk (a C++ exception), where a Python write raises ENOSPC, which atomic_path names.
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    with atomic_path(path, replace) as partial:
        partial.write_bytes(buffer.getbuffer())
    return worst


def __getattr__(name: str):
    # `from lle.export import main` predates lle.cli.export; imported on first use, since lle.cli.export
    # imports this module (an import at the top would be a cycle).
    if name in ("main", "parse_args"):
        from lle.cli import export as cli

        return getattr(cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    import sys

    from lle.cli.export import main

    sys.exit(main())
