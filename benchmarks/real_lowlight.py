"""A checkpoint on real low-light captures, beside the input and every classical method lle ships.

    python benchmarks/real_lowlight.py CKPT --pairs /data/LOLdataset/eval15 --out /tmp/real
    python benchmarks/real_lowlight.py CKPT --pairs …/eval15 --unpaired …/unpaired/DICM …/unpaired/LIME --out /tmp/real

Paired folders (`low/` and `high/` with the same file names, e.g. LOL's eval15): per image PSNR and SSIM (lle's
protocol: 8-bit quantised, MATLAB-style SSIM), their GT-mean variants, and how natural the output is next to its
reference: brightness (mean sRGB value, output / reference − 1) and colour (mean CIELAB chroma C*, output /
reference). Unpaired folders: NIQE (MATLAB release protocol, lower is better). Writes `real_lowlight.json`
(every image), `real_lowlight.md` (the tables) and `contact_sheet.png` (input | model | best classical by mean PSNR
| reference, one row per image) under --out. Nothing here selects anything: the checkpoint comes as it is.

Beside the methods, the brightness error of each reference itself re-exposed to a fixed mean linear luminance
(--floor-exposure, lle's default 0.3): the best any model that sets a fixed exposure can do on these pairs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import lle
import lle.models
from lle.data.calibration import mean_chroma
from lle.metrics.full_reference import gt_mean_rescale, psnr, ssim
from lle.models.exposure import DEFAULT_EXPOSURE, match_exposure

CLASSICAL = ("gamma", "he", "clahe", "dong2011", "lime")
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def methods(checkpoint: str) -> dict:
    """name → a function from a 1×3×H×W tensor to the enhanced tensor."""
    model = lle.load_model(checkpoint)
    runs = {"input": lambda x: x, "lle": lambda x: lle.enhance(model, x, tile=0)}
    for name in CLASSICAL:
        net = lle.models.build(name).eval()
        runs[name] = lambda x, net=net: net(x)
    return runs


def paired(folder: Path, runs: dict) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    lows = sorted(p for p in (folder / "low").iterdir() if p.suffix.lower() in SUFFIXES)
    if not lows:
        raise SystemExit(f"{folder}/low holds no images")
    rows: dict[str, list[dict]] = {name: [] for name in runs}
    images: dict[str, dict[str, np.ndarray]] = {}
    for low_path in lows:
        low, high = read(low_path), read(folder / "high" / low_path.name)
        x, target = to_tensor(low), to_tensor(high)
        images[low_path.stem] = {"input": low, "reference": high}
        for name, run in runs.items():
            with torch.inference_mode():
                out = run(x).float().clamp(0, 1)
            rescaled = gt_mean_rescale(out, target)
            enhanced = to_uint8(out)
            images[low_path.stem][name] = enhanced
            rows[name].append(
                {
                    "image": low_path.name,
                    "psnr": float(psnr(out, target)),
                    "ssim": float(ssim(out, target)),
                    "psnr_gtmean": float(psnr(rescaled, target)),
                    "ssim_gtmean": float(ssim(rescaled, target)),
                    "brightness": float(enhanced.mean() / high.mean() - 1.0),
                    "chroma": mean_chroma(enhanced / 255.0) / max(mean_chroma(high / 255.0), 1e-6),
                }
            )
    return rows, images


def exposure_floor(folder: Path, exposure: float) -> dict:
    """Brightness error of the references re-exposed to `exposure` (median and worst image)."""
    errors = []
    for high_path in sorted(p for p in (folder / "high").iterdir() if p.suffix.lower() in SUFFIXES):
        high = read(high_path)
        with torch.inference_mode():
            reexposed = to_uint8(match_exposure(to_tensor(high), exposure, refine=4))
        errors.append(abs(float(reexposed.mean() / high.mean() - 1.0)))
    return {"exposure": exposure, "median": float(np.median(errors)), "worst": float(max(errors))}


def summary(rows: list[dict]) -> dict:
    brightness = np.abs([r["brightness"] for r in rows])
    chroma = np.array([r["chroma"] for r in rows])
    return {
        **{k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "psnr_gtmean", "ssim_gtmean")},
        "brightness_error_median": float(np.median(brightness)),
        "brightness_error_worst": float(brightness.max()),
        "chroma_median": float(np.median(chroma)),
        "chroma_worst": float(chroma.min()),
    }


def unpaired(folders: list[Path], runs: dict) -> dict[str, dict[str, float]]:
    from lle.metrics.no_reference import niqe

    scores = {}
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
        per_method: dict[str, list[float]] = {name: [] for name in runs}
        for path in files:
            x = to_tensor(read(path))
            for name, run in runs.items():
                with torch.inference_mode():
                    out = run(x).float().clamp(0, 1)
                per_method[name].append(float(niqe(out)))
        scores[folder.name] = {name: float(np.mean(v)) for name, v in per_method.items()} | {"images": len(files)}
    return scores


def contact_sheet(images: dict[str, dict[str, np.ndarray]], best_classical: str, path: Path, width: int = 300) -> None:
    columns = ("input", "lle", best_classical, "reference")
    rows = []
    for parts in images.values():
        tiles = []
        for column in columns:
            image = Image.fromarray(parts[column])
            height = round(image.height * width / image.width)
            tiles.append(np.asarray(image.resize((width, height), Image.Resampling.LANCZOS)))
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def markdown(
    table: dict[str, dict], niqe_scores: dict, columns: tuple[str, ...], title: str, floor: dict | None = None
) -> str:
    lines = (
        []
        if not table
        else [
            f"{title}: PSNR/SSIM (lle protocol), GT-mean variants, brightness error |mean(out)/mean(ref) − 1| "
            "(median / worst image) and chroma C*(out)/C*(ref) (median / worst image)",
            "",
            "| method | PSNR | SSIM | PSNR GT-mean | SSIM GT-mean | brightness error, median / worst "
            "| chroma, median / worst |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
    )
    for name in sorted(table, key=lambda n: -table[n]["psnr"]):
        s = table[name]
        lines.append(
            f"| {name} | {s['psnr']:.2f} | {s['ssim']:.3f} | {s['psnr_gtmean']:.2f} | {s['ssim_gtmean']:.3f} | "
            f"{s['brightness_error_median']:.0%} / {s['brightness_error_worst']:.0%} | "
            f"{s['chroma_median']:.0%} / {s['chroma_worst']:.0%} |"
        )
    if floor:
        lines += [
            "",
            f"The references themselves re-exposed to mean linear luminance {floor['exposure']}: brightness error "
            f"{floor['median']:.0%} (median) / {floor['worst']:.0%} (worst), the floor of any fixed-exposure model.",
        ]
    if niqe_scores:
        lines += ["", "NIQE (lower is better), mean over each set:", ""]
        lines.append("| method | " + " | ".join(f"{k} ({v['images']})" for k, v in niqe_scores.items()) + " |")
        lines.append("|---|" + "---:|" * len(niqe_scores))
        for name in columns:
            lines.append(f"| {name} | " + " | ".join(f"{v[name]:.3f}" for v in niqe_scores.values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="an lle checkpoint, or official:<name>:<file>")
    parser.add_argument("--pairs", type=Path, help="a folder with low/ and high/ (e.g. LOL's eval15)")
    parser.add_argument("--unpaired", type=Path, nargs="*", default=[], help="folders of photographs (NIQE)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--floor-exposure",
        type=float,
        default=DEFAULT_EXPOSURE,
        help="mean linear luminance the references are re-exposed to for the fixed-exposure floor",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    runs = methods(args.checkpoint)
    result: dict = {"checkpoint": args.checkpoint, "protocol": "lle: 8-bit quantised PSNR, MATLAB-style SSIM"}
    table: dict = {}
    floor = None
    if args.pairs:
        rows, images = paired(args.pairs, runs)
        table = {name: summary(r) for name, r in rows.items()}
        result |= {"pairs": str(args.pairs), "per_image": rows, "summary": table}
        best = max(CLASSICAL, key=lambda n: table[n]["psnr"])
        contact_sheet(images, best, args.out / "contact_sheet.png")
        result["contact_sheet_columns"] = ["input", "lle", best, "reference"]
        floor = result["fixed_exposure_floor"] = exposure_floor(args.pairs, args.floor_exposure)
    niqe_scores = unpaired(args.unpaired, runs) if args.unpaired else {}
    result["niqe"] = niqe_scores
    (args.out / "real_lowlight.json").write_text(json.dumps(result, indent=1))
    text = markdown(table, niqe_scores, tuple(runs), args.pairs.name if args.pairs else "", floor)
    (args.out / "real_lowlight.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
