"""`lle-enhance INPUT OUTPUT --model CKPT`: enhance image files with a trained network.

INPUT is a file, a folder or a glob of PNG/JPEG/TIFF/BMP images (8 or 16 bit) or camera RAW files; the
enhanced images are written to the OUTPUT folder as PNGs with the input's file stem. Existing outputs are
kept unless `--overwrite`; a file that fails is reported by name and the others are still processed (the
exit code is then 1). `--gt DIR` scores each output against the image of the same stem in DIR.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import sys
from pathlib import Path

import numpy as np
import torch

from lle.atomic import write_text_atomic
from lle.cli import description
from lle.data.io import IMAGE_SUFFIXES, read_image, to_float_tensor, write_image
from lle.inference import (
    DEFAULT_TILE,
    DEFAULT_TILE_OVERLAP,
    MIN_TILE,
    Enhancer,
    check_network_tile,
    enhance_tensor,
    is_out_of_memory,
    load_model,
    model_file,
    needs_tiles,
    smallest_tile,
)
from lle.models.exposure import check_exposure
from lle.models.interface import SRGB

RAW_SUFFIXES = (".dng", ".arw", ".raf", ".nef", ".cr2", ".cr3", ".orf", ".rw2")


class DefaultsOnceFormatter(argparse.HelpFormatter):
    """Appends an option's default where it tells something: not where the help already states it, nor for
    flags and options that are unset by default (argparse's ArgumentDefaultsHelpFormatter adds "(default: None)"
    and "(default: False)" everywhere, and a second default where the text names one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lle-enhance", description=description(__doc__), formatter_class=DefaultsOnceFormatter
    )
    parser.add_argument("input", help="an image file, a folder of images, or a quoted glob such as 'dir/*.png'")
    parser.add_argument("output", type=Path, help="folder for the enhanced PNGs (created if needed)")
    parser.add_argument("--model", required=True, help="an lle checkpoint, or official:<name>:<weights file>")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bit depth of the written PNGs")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of skipping them")
    parser.add_argument("--gt", type=Path, help="folder of ground-truth images (same stems): write PSNR/SSIM")
    parser.add_argument("--metrics-csv", type=Path, help="where --gt writes its CSV (default: OUTPUT/metrics.csv)")
    parser.add_argument(
        "--ratio",
        type=float,
        default=1.0,
        help="exposure amplification applied to RAW inputs (e.g. SID's 100, 250, 300)",
    )
    parser.add_argument(
        "--exposure",
        type=float,
        help="re-expose each output to this mean linear luminance, for any network (0.18: photographic mid-grey; "
        "0.3: what lle's default model returns). Default: the network's own brightness",
    )
    parser.add_argument(
        "--tile",
        type=int,
        help=f"tiled inference with tiles of this many pixels (bounded memory), at least the network's minimum "
        f"(docs/benchmarks.md); 0 never tiles. Default: tiles of {DEFAULT_TILE} only for an image that would not fit "
        "in memory untiled",
    )
    parser.add_argument("--tile-overlap", type=int, default=DEFAULT_TILE_OVERLAP, help="overlap of the tiles in pixels")
    parser.add_argument("--self-ensemble", action="store_true", help="x8 self-ensemble (flips and rotations)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, … (auto: the GPU if there is one)")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last memory format (default: on where it was measured faster, docs/benchmarks.md)",
    )
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster; changes the output slightly)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    args = parser.parse_args(argv)
    if args.tile_overlap < 0:
        parser.error(f"--tile-overlap must be >= 0, got {args.tile_overlap}")
    if args.tile and not args.tile_overlap < args.tile:
        parser.error(f"--tile-overlap must be in [0, --tile), got {args.tile_overlap} with --tile {args.tile}")
    if (args.tile and args.tile < smallest_tile(args.tile_overlap)) or (args.tile is not None and args.tile < 0):
        # Smaller tiles spend most of their work on the overlap (and make thousands of calls).
        parser.error(
            f"--tile {args.tile} is too small: use at least {smallest_tile(args.tile_overlap)} "
            f"(the larger of {MIN_TILE} and twice --tile-overlap), or 0 to never tile"
        )
    if args.ratio <= 0:
        parser.error(f"--ratio must be positive, got {args.ratio}")
    try:
        check_exposure(args.exposure)
    except ValueError as err:
        parser.error(f"--{err}")
    return args


def find_inputs(spec: str) -> list[Path]:
    """The image and RAW files named by a file, a folder (not recursive) or a glob, sorted."""
    suffixes = IMAGE_SUFFIXES + RAW_SUFFIXES
    path = Path(spec)
    if path.is_file():
        if path.suffix.lower() not in suffixes:
            raise ValueError(f"{path}: not a supported image file ({', '.join(suffixes)})")
        return [path]
    if path.is_dir():
        candidates = path.iterdir()
    elif glob.has_magic(spec):
        candidates = (Path(p) for p in glob.glob(spec))
    else:
        raise FileNotFoundError(f"{spec}: no such file or folder")
    found = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise FileNotFoundError(f"{spec}: no image files ({', '.join(suffixes)})")
    return found


def read_input(path: Path, model: Enhancer, ratio: float) -> torch.Tensor:
    """The network's input for one file: C×H×W float (sRGB in [0, 1], or packed raw × ratio)."""
    is_raw = path.suffix.lower() in RAW_SUFFIXES
    wants_raw = model.info.input_kind != SRGB
    if wants_raw and not is_raw:
        raise ValueError(f"{path}: the model takes {model.info.input_kind} input, give it camera RAW files")
    if not is_raw:
        return to_float_tensor(read_image(path))
    from lle.data.raw import load_packed, read_raw  # only RAW files need LibRaw

    if wants_raw:
        # As the training data were made (lle.data.sid): the checkpoint's black/white levels (None: the
        # file's), amplified by the exposure ratio, clipped at 1 unless the training data were not (ALEN).
        data = model.info.data_config
        packed = load_packed(path, black=data.get("black"), white=data.get("white"))
        if packed.shape[0] != model.info.in_channels:
            raise ValueError(
                f"{path}: packs to {packed.shape[0]} channels, the model takes "
                f"{model.info.in_channels} ({model.info.input_kind})"
            )
        amplified = packed * np.float32(ratio)
        return torch.from_numpy(np.minimum(amplified, 1.0) if data.get("clip_input", True) else amplified)
    with read_raw(path) as raw:
        # An sRGB network gets LibRaw's development (camera white balance), brightened by the ratio.
        rgb = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16, bright=ratio)
    return to_float_tensor(rgb)


def find_ground_truth(gt_dir: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (gt_dir / f"{stem}{suffix}", gt_dir / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def write_metrics_csv(path: Path, rows: list[dict]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=METRICS_HEADER.split(","))
    writer.writeheader()
    writer.writerows({"name": r["name"], "psnr": f"{r['psnr']:.4f}", "ssim": f"{r['ssim']:.6f}"} for r in rows)
    write_text_atomic(path, text.getvalue())


METRICS_HEADER = "name,psnr,ssim"


def check_metrics_csv(path: Path, reads: set[Path], overwrite: bool) -> None:
    """Refuse a --metrics-csv that would replace a file this command reads (`reads`, resolved: the inputs, the
    model, the ground truth), an image, or a file lle-enhance did not write (the CSV of an earlier run into the
    same folder, recognised by its header, is replaced: it is this run's)."""
    if path.resolve() in reads:
        raise ValueError(f"--metrics-csv {path} is a file this command reads (an input, the model or a ground truth)")
    if path.suffix.lower() in IMAGE_SUFFIXES + RAW_SUFFIXES:
        raise ValueError(f"--metrics-csv {path} would replace an image; give a .csv file")
    if path.is_dir():
        raise ValueError(f"--metrics-csv {path} is a folder; give a .csv file")
    if path.exists() and not overwrite:
        with open(path, errors="replace") as handle:
            written_by_us = handle.readline().strip() == METRICS_HEADER
        if not written_by_us:
            raise ValueError(
                f"--metrics-csv {path} exists and is not an lle-enhance metrics file; "
                "choose another file or pass --overwrite"
            )


def _duplicate_stems(paths: list[Path]) -> list[str]:
    stems: dict[str, list[str]] = {}
    for p in paths:
        stems.setdefault(p.stem, []).append(p.name)
    return [" and ".join(names) for names in stems.values() if len(names) > 1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)

    def say(message: str) -> None:
        console.print(message, markup=False, highlight=False, soft_wrap=True)  # never wrap a file name

    try:
        inputs = find_inputs(args.input)
        clashes = _duplicate_stems(inputs)
        if clashes:
            raise ValueError("inputs that would write the same output name: " + "; ".join(clashes))
        if args.gt is not None and not args.gt.is_dir():
            raise FileNotFoundError(f"--gt {args.gt}: no such folder")
        if args.gt is not None and args.gt.resolve() == args.output.resolve():
            raise ValueError(f"--gt {args.gt} is the OUTPUT folder: each output would be scored against itself")
        # Never written over: the inputs, the model file, the ground truth.
        reads = {p.resolve() for p in inputs} | {model_file(args.model).resolve()}
        if args.gt is not None:
            reads |= {p.resolve() for p in args.gt.iterdir()}
            check_metrics_csv(args.metrics_csv or args.output / "metrics.csv", reads, args.overwrite)
        model = load_model(
            args.model, device=args.device, channels_last=args.channels_last, bf16=args.bf16, compile=args.compile
        )
        if args.tile:  # only the network knows how small its tiles may be
            check_network_tile(model, args.tile, args.tile_overlap, options=("--tile", "--tile-overlap"))
        args.output.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError, ImportError) as err:
        say(f"lle-enhance: error: {err}")
        return 2
    if args.ratio != 1 and not any(p.suffix.lower() in RAW_SUFFIXES for p in inputs):
        say("note: --ratio only applies to RAW files; none were given")

    done, skipped, failed, scores = [], [], [], []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("enhancing", total=len(inputs))
        for path in inputs:
            target = args.output / f"{path.stem}.png"
            try:
                if target.exists() and target.resolve() in reads:
                    raise ValueError(f"the output {target} is a file this command reads; choose another OUTPUT folder")
                if target.exists() and not args.overwrite:
                    skipped.append(path)
                    say(f"skipped {path.name}: {target} exists (--overwrite replaces it)")
                    continue
                x = read_input(path, model, args.ratio)
                tile, overlap = args.tile, args.tile_overlap
                if tile is None:  # tile only what would not fit, never below the network's minimum
                    decision = needs_tiles(model, x[None].shape, overlap=overlap)
                    if decision.short_of_memory:
                        say(f"{path.name}: {decision.reason} (--tile 0 never tiles)")
                    tile, overlap = decision.tile, decision.overlap
                y = enhance_tensor(
                    model,
                    x[None],
                    tile=tile,
                    overlap=overlap,
                    ensemble=args.self_ensemble,
                    exposure=args.exposure,
                )[0]
                try:  # without --overwrite, never over an output another lle-enhance wrote meanwhile
                    write_image(target, y, bits=args.bits, replace=args.overwrite)
                except FileExistsError:
                    skipped.append(path)
                    say(f"skipped {path.name}: {target} was written meanwhile by another process")
                    continue
                done.append(path)
                if args.gt is not None:
                    score = _score(y, args.gt, path.stem)
                    if score is None:
                        say(f"no ground truth for {path.name} in {args.gt}")
                    else:
                        scores.append(score)
            except Exception as err:  # noqa: BLE001 — one bad file must not stop the others
                failed.append(path)
                if is_out_of_memory(err):
                    err = f"out of memory on this image; enhance it in tiles: --tile 512 (or smaller) ({err})"
                say(f"failed {path.name}: {err}")
            finally:
                progress.advance(task)

    if args.gt is not None:
        _report_scores(scores, args.metrics_csv or args.output / "metrics.csv", say)
    say(f"{len(done)} enhanced, {len(skipped)} skipped (existing outputs), {len(failed)} failed → {args.output}")
    if failed:
        say("failed: " + ", ".join(str(p) for p in failed))
    return 1 if failed else 0


def _score(pred: torch.Tensor, gt_dir: Path, stem: str) -> dict | None:
    from lle.metrics import psnr, ssim

    gt_path = find_ground_truth(gt_dir, stem)
    if gt_path is None:
        return None
    target = to_float_tensor(read_image(gt_path))[None]
    pred = pred[None].to(target.device)
    if pred.shape != target.shape:
        raise ValueError(
            f"output {tuple(pred.shape[-2:])} and ground truth {gt_path} {tuple(target.shape[-2:])} differ in size"
        )
    return {"name": stem, "psnr": float(psnr(pred, target)[0]), "ssim": float(ssim(pred, target)[0])}


def _report_scores(scores: list[dict], csv_path: Path, say) -> None:
    if not scores:
        say("no outputs were scored (none enhanced in this run had a ground truth)")
        return
    mean = {
        "name": "mean",
        "psnr": sum(s["psnr"] for s in scores) / len(scores),
        "ssim": sum(s["ssim"] for s in scores) / len(scores),
    }
    write_metrics_csv(csv_path, [*scores, mean])
    for row in [*scores, mean]:
        say(f"{row['name']:>24}  PSNR {row['psnr']:7.3f} dB  SSIM {row['ssim']:.4f}")
    say(f"metrics of {len(scores)} images → {csv_path}")


if __name__ == "__main__":
    sys.exit(main())
