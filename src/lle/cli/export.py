"""`lle-export CKPT out.onnx [--torchscript out.pt]`: a checkpoint as ONNX (dynamic batch, height, width).

Each export is checked before it is kept: onnxruntime (or the TorchScript module) must reproduce PyTorch's
output at the tracing size and at a second size, otherwise nothing is written (see `lle.export`). Outputs
are not clamped to [0, 1], as the networks' are not. An export never replaces the model file it reads, nor an
existing file unless `--overwrite`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lle.cli import description
from lle.export import MIN_OPSET, export_onnx, export_torchscript
from lle.inference import load_model, model_file
from lle.models.interface import network_input

NOT_CLAMPED = (
    "the exported output is not clamped to [0, 1] (the network contract); clamp it before saving or "
    "scoring, as lle does"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lle-export", description=description(__doc__), formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("checkpoint", help="an lle checkpoint, or official:<name>:<weights file>")
    parser.add_argument("onnx", type=Path, nargs="?", help="the ONNX file to write")
    parser.add_argument("--torchscript", type=Path, help="also write a traced TorchScript module here")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (>= {MIN_OPSET})")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted difference from PyTorch")
    parser.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    args = parser.parse_args(argv)
    outputs = [path for path in (args.onnx, args.torchscript) if path is not None]
    if not outputs:
        parser.error("give an ONNX output file, --torchscript FILE, or both")
    problem = output_problem(args.checkpoint, outputs, args.overwrite)
    if problem:
        parser.error(problem)
    return args


def output_problem(source: str, outputs: list[Path], overwrite: bool) -> str | None:
    """Why writing `outputs` must not happen: onto the model's own file (never), twice to one file, or over
    an existing file without --overwrite; None when it may."""
    source_file = model_file(source)
    resolved = [path.resolve() for path in outputs]
    for path, full in zip(outputs, resolved):
        if source_file.exists() and full == source_file.resolve():
            return f"{path} is the model file being exported; choose another output file"
        if full.is_dir():
            return f"{path} is a folder; give an output file"
    if len(set(resolved)) < len(resolved):
        return f"the ONNX and TorchScript outputs are the same file ({outputs[0]})"
    existing = [str(path) for path in outputs if path.exists()]
    if existing and not overwrite:
        return f"{', '.join(existing)} exists; pass --overwrite to replace it"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        model = load_model(args.checkpoint, device="cpu")
        # The network (or its RAW adapter) declares the channels it takes: the example inputs get as many.
        net = model.net
        in_channels = network_input(net).channels
        if args.onnx is not None:
            worst = export_onnx(net, args.onnx, in_channels, args.opset, args.tolerance, replace=args.overwrite)
            print(f"wrote {args.onnx} (opset {args.opset}; max difference from PyTorch {worst:.2g})")
        if args.torchscript is not None:
            worst = export_torchscript(net, args.torchscript, in_channels, args.tolerance, replace=args.overwrite)
            print(f"wrote {args.torchscript} (max difference from PyTorch {worst:.2g})")
        print(NOT_CLAMPED)
    except (OSError, ValueError, ImportError, RuntimeError) as err:
        print(f"lle-export: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
