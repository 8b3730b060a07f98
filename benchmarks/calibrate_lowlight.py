"""Real low-light captures next to the embedded generator's synthetic pairs: the figures data.md §3.1 is set from.

    python benchmarks/calibrate_lowlight.py /data/LOLdataset/our485 --out /tmp/calibration
    python benchmarks/calibrate_lowlight.py …/our485 --out /tmp/cal --set ratio_range=[5,300] --set black_range=[0,0]

REAL is a folder with `low/` and `high/` (same file names; LOL's training pairs: never calibrate on a test split).
Each pair is measured with `lle.data.calibration.pair_statistics` (exposure ratio in linear light, noise per channel
in 8-bit codes, crushed blacks, shadow contrast, colour cast, chroma), and so are synthetic pairs made by
`make_lol_pair` with the degradation of `conf/data/synthetic.yaml` (or `--set key=value` overrides) from the
embedded training photographs (whole photographs, fixed seeds). Writes `calibration.json`, `calibration.md` (the
table: p10 / median / p90 of each) and, with matplotlib, `calibration.png` (the two distributions side by side).

It also chooses the default model's fixed exposure (`model.net.exposure`): each reference re-exposed to a mean
linear luminance E as the training references are (`lle.data.synthetic_lol.reexpose`) is |mean(re-exposed) /
mean(reference) − 1| off in brightness, the metric the real-capture benchmark reports; the E with the smallest
median over these pairs is printed with the curve (`exposure_choice` in `calibration.json`).

And the bounds of the default model's noise gate (`model.net.noise_gate`, data.md §3.3): the noise level
(`lle.models.noise_level.noise_sigma`, 8-bit luma codes) of the references and of the dark frames, each re-exposed to
the default exposure as the network sees them, p10 / median / p90, real and synthetic (`noise_gate` in the json).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from lle.data.calibration import pair_statistics, summarise
from lle.data.synthetic import make_lol_pair, seed_images
from lle.data.synthetic_lol import reexpose
from lle.models.exposure import DEFAULT_EXPOSURE, match_exposure
from lle.models.noise_level import noise_sigma

DEGRADATION_KEYS = (
    "ratio_range",
    "shot_range",
    "red_cast_range",
    "blue_cast_range",
    "black_range",
    "jpeg_quality_range",
    "jpeg_probability",
    "noise_after_demosaic",
)
TRAINING_PHOTOGRAPHS = ("astronaut", "rocket", "china", "grace_hopper")  # conf/data/synthetic.yaml's train split
LABELS = {
    "low_brightness": "low image brightness (mean sRGB)",
    "high_brightness": "reference brightness (mean sRGB)",
    "high_luminance": "reference mean linear luminance",
    "exposure_ratio": "exposure ratio (linear luminance)",
    "noise_r": "noise, red (8-bit codes)",
    "noise_g": "noise, green (8-bit codes)",
    "noise_b": "noise, blue (8-bit codes)",
    "noise_correlation": "noise correlation, adjacent pixels",
    "black_clip": "crushed blacks (fraction)",
    "shadow_contrast": "shadow contrast (1: pure exposure)",
    "cast_r": "red/green cast (1: none)",
    "cast_b": "blue/green cast (1: none)",
    "chroma_ratio": "chroma, low re-exposed / reference",
}


def degradation(overrides: list[str]) -> dict:
    config = yaml.safe_load((resources.files("lle") / "conf" / "data" / "synthetic.yaml").read_text())
    chosen = {key: config[key] for key in DEGRADATION_KEYS}
    for override in overrides:
        key, _, value = override.partition("=")
        if key not in DEGRADATION_KEYS:
            raise SystemExit(f"--set {override}: known keys are {', '.join(DEGRADATION_KEYS)}")
        chosen[key] = yaml.safe_load(value)
        if isinstance(chosen[key], list):  # YAML 1.1 reads 4e-4 (no dot) as a string
            try:
                chosen[key] = [float(v) for v in chosen[key]]
            except ValueError:
                raise SystemExit(f"--set {override}: expected numbers, e.g. {key}=[1e-5,1.5e-3]") from None
    return {k: tuple(v) if isinstance(v, list) else v for k, v in chosen.items()}


def real_statistics(folder: Path) -> list:
    lows = sorted((folder / "low").glob("*.png"))
    if not lows:
        raise SystemExit(f"{folder}/low holds no PNG files")
    out = []
    for low_path in lows:
        with Image.open(low_path) as low, Image.open(folder / "high" / low_path.name) as high:
            out.append(pair_statistics(np.asarray(low.convert("RGB")), np.asarray(high.convert("RGB"))))
    return out


def synthetic_statistics(options: dict, count: int, seed: int = 0) -> list:
    photos = [image for name, image in seed_images().items() if name in TRAINING_PHOTOGRAPHS]
    rng = np.random.default_rng(seed)
    return [pair_statistics(*make_lol_pair(photos[i % len(photos)], rng, **options)) for i in range(count)]


def table(real: dict, synthetic: dict) -> str:
    lines = [
        "| statistic | real p10 | real median | real p90 | synthetic p10 | synthetic median | synthetic p90 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in LABELS.items():
        r, s = real[key], synthetic[key]
        cells = [f"{r['p10']:.3g}", f"{r['median']:.3g}", f"{r['p90']:.3g}"]
        cells += [f"{s['p10']:.3g}", f"{s['median']:.3g}", f"{s['p90']:.3g}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(real: list, synthetic: list, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = [k for k in LABELS if k not in ("high_brightness", "high_luminance")]
    fig, axes = plt.subplots(2, 5, figsize=(16, 6.2))
    for ax, key in zip(axes.flat, keys):
        data = [[getattr(s, key) for s in group] for group in (real, synthetic)]
        data = [[v for v in values if np.isfinite(v)] for values in data]
        ax.boxplot(data, whis=(10, 90), showfliers=True, widths=0.6)
        ax.set_xticks([1, 2], ["real", "synthetic"])
        ax.set_title(LABELS[key], fontsize=9)
        if key in ("exposure_ratio", "shadow_contrast"):
            ax.set_yscale("log")
    fig.suptitle("Real low-light pairs vs the embedded generator (boxes: quartiles; whiskers: p10–p90)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


CANDIDATE_EXPOSURES = tuple(round(0.15 + 0.01 * i, 2) for i in range(26))  # 0.15 … 0.40


def exposure_choice(folder: Path, exposures=CANDIDATE_EXPOSURES) -> dict:
    """Median and p90 brightness error of the references re-exposed to each fixed exposure, and the best one."""
    references = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((folder / "high").glob("*.png"))]
    curve = {}
    for exposure in exposures:
        errors = [abs(reexpose(high, float(exposure)).mean() / high.mean() - 1.0) for high in references]
        curve[float(exposure)] = {"median": float(np.median(errors)), "p90": float(np.percentile(errors, 90))}
    best = min(curve, key=lambda e: curve[e]["median"])
    return {"best": best, "curve": curve}


def noise_levels(real: Path, options: dict, count: int, exposure: float = DEFAULT_EXPOSURE, seed: int = 0) -> dict:
    """p10 / median / p90 noise level of references and dark frames re-exposed to `exposure`, real and synthetic."""
    import torch

    def level(image: np.ndarray) -> float:
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255.0
        return float(noise_sigma(match_exposure(x, exposure)))

    def spread(values: list[float]) -> dict[str, float]:
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        return {"p10": float(p10), "median": float(p50), "p90": float(p90)}

    out = {}
    for kind in ("high", "low"):
        out[f"real {kind}"] = spread([level(np.asarray(Image.open(p).convert("RGB"))) for p in sorted((real / kind).glob("*.png"))])
    photos = [image for name, image in seed_images().items() if name in TRAINING_PHOTOGRAPHS]
    rng = np.random.default_rng(seed)
    pairs = [make_lol_pair(photos[i % len(photos)], rng, **options) for i in range(count)]
    out["synthetic high"] = spread([level(high) for _, high in pairs])
    out["synthetic low"] = spread([level(low) for low, _ in pairs])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real", type=Path, help="a folder with low/ and high/ (e.g. LOL's our485)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--synthetic", type=int, default=96, help="synthetic pairs to measure")
    parser.add_argument("--set", action="append", default=[], help="override a degradation key, e.g. black_range=[0,0]")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    options = degradation(args.set)
    real, synthetic = real_statistics(args.real), synthetic_statistics(options, args.synthetic)
    summary = {"real": summarise(real), "synthetic": summarise(synthetic)}
    record = {
        "real": str(args.real),
        "real_pairs": len(real),
        "synthetic_pairs": len(synthetic),
        "degradation": options,
        "training_photographs": [n for n in TRAINING_PHOTOGRAPHS if n in seed_images()],
        "summary": summary,
        "per_pair": {"real": [asdict(s) for s in real], "synthetic": [asdict(s) for s in synthetic]},
    }
    (args.out / "calibration.json").write_text(json.dumps(record, indent=1))
    text = table(summary["real"], summary["synthetic"])
    (args.out / "calibration.md").write_text(text)
    print(text)
    choice = record["exposure_choice"] = exposure_choice(args.real)
    (args.out / "calibration.json").write_text(json.dumps(record, indent=1))
    print("fixed exposure E: median / p90 brightness error of the references re-exposed to E")
    for exposure, error in choice["curve"].items():
        marker = "  ◀ the smallest median" if exposure == choice["best"] else ""
        print(f"  E = {exposure:.2f}: {error['median']:.1%} / {error['p90']:.1%}{marker}")
    gate = record["noise_gate"] = noise_levels(args.real, options, args.synthetic)
    (args.out / "calibration.json").write_text(json.dumps(record, indent=1))
    print(f"noise level re-exposed to {DEFAULT_EXPOSURE} (8-bit luma codes), p10 / median / p90:")
    for name, spread in gate.items():
        print(f"  {name}: {spread['p10']:.2f} / {spread['median']:.2f} / {spread['p90']:.2f}")
    if figure(real, synthetic, args.out / "calibration.png"):
        print(f"figure: {args.out / 'calibration.png'}")


if __name__ == "__main__":
    main()
