"""`lle-export CKPT out.onnx [--torchscript out.pt]`: a checkpoint as ONNX (dynamic batch, height, width).

Each export is checked before it is kept: onnxruntime (or the TorchScript module) must reproduce PyTorch's
output at the tracing size and at a second size, otherwise nothing is written (see `lle.export`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lle.export import MIN_OPSET, export_onnx, export_torchscript
from lle.inference import load_model
from lle.models.interface import network_input


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lle-export", description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
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
        # The network (or its RAW adapter) declares the channels it takes: the example inputs get as many.
        net = model.net
        in_channels = network_input(net).channels
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
