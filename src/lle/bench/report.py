"""`lle-bench`'s outputs: bench.json, bench.csv, bench.md and latency_vs_macs.png."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from lle.bench.measure import VARIANTS

CSV_FIELDS = (
    "model",
    "params",
    "gmacs_256",
    "device",
    "kind",
    "variant",
    "size",
    "batch",
    "median_ms",
    "min_ms",
    "n",
    "megapixels_per_s",
    "peak_mem_mib",
    "speedup_vs_plain",
    "error",
)


def flat_rows(results: list[dict]) -> list[dict]:
    """One row per (model, device, size, variant), with the speed-up over `plain` of the same size."""
    rows = []
    for result in results:
        plain = {(r["device"], r["size"]): r.get("median_s") for r in result["rows"] if r.get("variant") == "plain"}
        if result.get("error"):
            rows.append({"model": result["model"], "error": result["error"]})
        for r in result["rows"]:
            if r.get("skipped"):
                continue
            row = {
                "model": result["model"],
                "params": result.get("params"),
                "gmacs_256": None if result.get("macs_256") is None else result["macs_256"] / 1e9,
                **{
                    k: r.get(k)
                    for k in (
                        "device",
                        "kind",
                        "variant",
                        "size",
                        "batch",
                        "n",
                        "megapixels_per_s",
                        "peak_mem_mib",
                        "error",
                    )
                },
            }
            if "median_s" in r:
                row.update(median_ms=r["median_s"] * 1e3, min_ms=r["min_s"] * 1e3)
                base = plain.get((r["device"], r["size"])) if r["kind"] == "inference" else None
                row["speedup_vs_plain"] = base / r["median_s"] if base else None
            rows.append(row)
    return rows


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _time_cell(row: dict | None, scale: float = 1.0, digits: int = 1) -> str:
    """`median_ms × scale`, with the number of timed runs when it is below 3."""
    if row is None:
        return "–"
    if row.get("error"):
        return "error"
    return f"{row['median_ms'] * scale:,.{digits}f}" + (f" (n={row['n']})" if row["n"] < 3 else "")


INFERENCE_HEADER = (
    "| model | params | GMACs @256² | plain (ms) | fast (ms) | speed-up | bf16 (ms) | bf16 speed-up "
    "| MP/s (fast) | peak mem fast (MiB) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)
TRAIN_HEADER = (
    "| model | patch × batch | fp32 (s/step) | bf16 (s/step) | bf16 speed-up | peak mem fp32 (MiB) "
    "| recipe patch × batch |\n|---|---|---:|---:|---:|---:|---|"
)


def _inference_line(result: dict, by_variant: dict[str, dict], size: str) -> str:
    plain, fast, bf16 = (by_variant.get(v) for v in VARIANTS)
    if not (plain or fast or bf16):
        skipped = any(r.get("skipped") and r["size"] == size for r in result["rows"])
        return f"| {result['model']} | | | {'skipped' if skipped else '–'} | | | | | | |"
    fast_row, bf16_row = fast or {}, bf16 or {}
    return (
        f"| {result['model']} | {_fmt(result.get('params'))} | {_fmt(result['macs_256'] / 1e9, 2)} | "
        f"{_time_cell(plain)} | {_time_cell(fast)} | {_fmt(fast_row.get('speedup_vs_plain'), 2)} | "
        f"{_time_cell(bf16)} | {_fmt(bf16_row.get('speedup_vs_plain'), 2)} | "
        f"{_fmt(fast_row.get('megapixels_per_s'), 3)} | {_fmt(fast_row.get('peak_mem_mib'), 0)} |"
    )


def _train_line(result: dict, fp32: dict | None, bf16: dict | None) -> str:
    ref = fp32 or bf16
    recipe = result.get("recipe_patch_batch")
    both = fp32 and bf16 and "median_ms" in fp32 and "median_ms" in bf16
    speedup = fp32["median_ms"] / bf16["median_ms"] if both else None
    name = result["model"] + (" (stage 1)" if result["model"] == "retinexnet" else "")
    return (
        f"| {name} | {ref['size'].split('x')[0]} × {ref['batch']} | {_time_cell(fp32, 1e-3, 2)} | "
        f"{_time_cell(bf16, 1e-3, 2)} | {_fmt(speedup, 2)} | {_fmt((fp32 or {}).get('peak_mem_mib'), 0)} | "
        f"{f'{recipe[0]} × {recipe[1]}' if recipe else '–'} |"
    )


def markdown_report(results: list[dict], machine: dict, command: str) -> str:
    rows = flat_rows(results)
    index = {(r["model"], r.get("device"), r.get("kind"), r.get("size"), r.get("variant")): r for r in rows}
    lines = [
        f"# lle-bench — {machine['date']}",
        "",
        f"{machine['cpu']}, {machine['cpu_cores']} cores, {machine['ram_gib']} GiB RAM, "
        f"GPU: {machine['gpu'] or 'none'}; "
        f"torch {machine['torch']} ({machine['torch_threads']} threads), Lightning {machine['pytorch_lightning']}; "
        f"load average at start {machine['load_average']}, at end {machine.get('load_average_end')}.",
        "",
        f"`{command}`",
        "",
        "Latency: median ms per image at batch 1 (n = timed runs when fewer than 3). plain: fp32 NCHW + no_grad; "
        "fast: fp32 channels_last + inference_mode; bf16: fast under bf16 autocast. Speed-up: plain / variant. "
        "Memory: peak rise above the level before the timed runs (RSS on CPU).",
        "",
    ]
    devices = sorted({r["device"] for r in rows if r.get("device")})
    sizes = list(dict.fromkeys(r["size"] for r in rows if r.get("kind") == "inference"))
    measured = [r for r in results if "macs_256" in r]
    for device in devices:
        for size in sizes:
            lines += [f"## Inference, {device}, {size}", "", INFERENCE_HEADER]
            for result in measured:
                by_variant = {v: index.get((result["model"], device, "inference", size, v)) for v in VARIANTS}
                lines.append(_inference_line(result, {k: v for k, v in by_variant.items() if v}, size))
            lines.append("")
        train_rows = {
            (r["model"], r["variant"]): r for r in rows if r.get("device") == device and r.get("kind") == "train"
        }
        if train_rows:
            lines += [f"## Training step, {device}", "", TRAIN_HEADER]
            for result in measured:
                fp32, bf16 = (train_rows.get((result["model"], v)) for v in ("train_fp32", "train_bf16"))
                if fp32 or bf16:
                    lines.append(_train_line(result, fp32, bf16))
            lines.append("")
    for r in results:
        if r.get("input_scale", 1) != 1 or r.get("input_channels", 3) != 3:
            scale = r["input_scale"]
            lines += [
                f"Sizes name the output. {r['model']} takes packed RAW: {r['input_channels']}×(H/{scale})×(W/{scale}) "
                f"in, 3×H×W out; its MACs are counted at a {r['input_channels']}×256×256 input, i.e. a "
                f"{256 * scale}×{256 * scale} output (protocol: 1×C×256×256).",
                "",
            ]
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["## Errors", ""]
        for r in errors:
            where = " ".join(str(r[k]) for k in ("model", "device", "size", "variant") if r.get(k))
            lines.append(f"- {where}: {r['error']}")
        lines.append("")
    return "\n".join(lines)


def plot_latency_vs_macs(results: list[dict], path: Path, device: str = "cpu", size: str = "256x256") -> bool:
    """Latency (fast fp32) at `size` against MACs, log-log; networks only (classical methods have ~0 MACs).

    Both axes are for the same output size: a packed-RAW network's MACs (counted at a 256×256 *input*) are
    divided by its upscale², the MACs of the input that develops into a 256×256 output.
    """
    from lle.report.plots import agg_figure  # here: the report package is heavier than lle-bench's other work

    try:
        fig, ax = agg_figure(6, 4.2)
    except ImportError:
        return False
    scale = {r["model"]: r.get("input_scale", 1) or 1 for r in results}
    points = []
    for row in flat_rows(results):
        if (
            (row.get("device"), row.get("kind"), row.get("size"), row.get("variant"))
            == (device, "inference", size, "fast")
            and row.get("median_ms")
            and (row.get("gmacs_256") or 0) > 0.01
        ):
            points.append((row["gmacs_256"] / scale[row["model"]] ** 2, row["median_ms"], row["model"]))
    if not points:
        return False
    for macs, ms, model in points:
        ax.scatter(macs, ms, color="tab:blue")
        ax.annotate(model, (macs, ms), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="GMACs for a 256×256 output",
        ylabel=f"{device} latency at {size} (ms, fp32 fast)",
        title="lle-bench: latency vs MACs",
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=120)
    return True


def write_reports(results: list[dict], machine: dict, opts: dict, command: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(
        json.dumps({"machine": machine, "settings": opts, "command": command, "results": results}, indent=2)
    )
    with open(out / "bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(flat_rows(results))
    (out / "bench.md").write_text(markdown_report(results, machine, command))
    plot_latency_vs_macs(results, out / "latency_vs_macs.png")
