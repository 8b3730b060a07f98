"""One measurement at a time: latency (median of timed calls after warm-up), peak memory, and the
inference variants and training step that `lle-bench` and the `benchmarks/` scripts time."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lle.models.interface import network_input

VARIANTS = ("plain", "fast", "fast_bf16")


def synchronizer(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _timed(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def time_calls(
    fn: Callable[[], Any],
    warmup: int = 2,
    repeats: int = 10,
    budget_s: float = 60.0,
    sync: Callable[[], None] = lambda: None,
    on_timed_start: Callable[[], None] | None = None,
) -> dict:
    """Median/min seconds of `fn` over up to `repeats` timed calls after `warmup` calls (at least one).

    The first warm-up call calibrates: further warm-up calls are skipped when it took more than a tenth
    of `budget_s`, and only as many timed calls as fit in `budget_s` are made (at least one), so MIRNet
    at 400×600 (minutes per call on a CPU) gets one timed run and GLADNet gets `repeats`.
    """
    first = _timed(fn, sync)
    for _ in range(warmup - 1):
        if first > budget_s / 10:
            break
        _timed(fn, sync)
    n = max(1, min(repeats, int(budget_s // max(first, 1e-9))))
    if on_timed_start is not None:
        on_timed_start()
    times = [_timed(fn, sync) for _ in range(n)]
    return {"median_s": statistics.median(times), "min_s": min(times), "n": n, "first_s": first}


_LIBC = None


def _malloc_trim() -> None:
    # Memory freed by the warm-up stays in glibc's arenas and would count as "before"; hand it back first.
    global _LIBC
    try:
        _LIBC = _LIBC or ctypes.CDLL("libc.so.6")
        _LIBC.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_rss_high_water_mark() -> bool:
    try:  # Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory (MiB) above the level at entry: RSS on the CPU, allocated memory on a GPU.

    Where the RSS high-water mark cannot be reset (not Linux), the process's lifetime peak is used, which
    is only right for the largest measurement so far; `peak_mib` is then None when the peak did not rise.
    """

    def __init__(self, device: torch.device):
        self.device, self.peak_mib, self.peak_total_mib = device, None, None

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return
        gc.collect()
        _malloc_trim()
        self._resettable = _reset_rss_high_water_mark()
        self._base = _rss_kib("VmRSS") if self._resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
            self.peak_mib, self.peak_total_mib = (peak - self._base) / 2**20, peak / 2**20
            return
        peak = _rss_kib("VmHWM") if self._resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        delta = peak - self._base
        self.peak_mib = delta / 1024 if (self._resettable or delta > 0) else None
        self.peak_total_mib = peak / 1024


# --- models and inputs ------------------------------------------------------------------------------------


def make_input(
    net: nn.Module, channels: int, height: int, width: int, batch: int = 1, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A dark input in [0, 1] whose output is `height`×`width` (packed RAW networks: a smaller input)."""
    scale = network_input(net).upscale
    if height % scale or width % scale:
        raise ValueError(f"{height}x{width} is not a multiple of the network's upscale {scale}")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, channels, height // scale, width // scale, generator=generator) * 0.2
    return x.to(device)


@contextlib.contextmanager
def inference_context(variant: str, device: torch.device):
    grad = torch.no_grad() if variant == "plain" else torch.inference_mode()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=variant.endswith("bf16"))
    with grad, autocast:
        yield


def prepare_inference(net: nn.Module, x: torch.Tensor, variant: str) -> tuple[nn.Module, torch.Tensor]:
    """The network and input in the variant's memory format (channels_last for every `fast*` variant)."""
    if variant == "plain":
        return net.to(memory_format=torch.contiguous_format), x.contiguous()
    return net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)


def measure_inference(
    net: nn.Module, x: torch.Tensor, variant: str, warmup: int, repeats: int, budget_s: float
) -> dict:
    device = x.device
    net, x = prepare_inference(net, x, variant)
    memory = PeakMemory(device)

    def forward():
        with inference_context(variant, device):
            net(x)

    timing = time_calls(forward, warmup, repeats, budget_s, synchronizer(device), on_timed_start=memory.start)
    memory.stop()
    net.to(memory_format=torch.contiguous_format)
    return {**timing, "peak_mem_mib": memory.peak_mib, "peak_total_mib": memory.peak_total_mib}


def build_module(name: str, channels: int):
    """The LightningModule `lle-train model=<name>` builds, with the model's official loss and optimizer."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from lle.config import CONFIG_DIR, register_resolvers

    register_resolvers()
    data = "synthetic" if channels == 3 else "synthetic_raw"  # model configs follow the data's input kind
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", f"data={data}"])
    GlobalHydra.instance().clear()
    return instantiate(cfg.model, loss=instantiate(cfg.loss))


def training_step(module, x: torch.Tensor, y: torch.Tensor, bf16: bool) -> Callable[[], float]:
    """One optimisation step of `module` on the batch (x, y): its own training loss (`training_loss`;
    Retinex-Net: the stage-1 `stage_loss`), backward, its optimizer and per-step scheduler."""
    from lle.modules import RetinexNetModule

    module.train()
    batch = {"input": x, "target": y}
    scheduler = None
    if isinstance(module, RetinexNetModule):
        optimizer = module.configure_optimizers()[0]  # stage 1 trains DecomNet

        def compute_loss():
            return module.stage_loss(batch, stage=1)[0]
    else:
        optimizer = module.optimizer_factory(params=[p for p in module.parameters() if p.requires_grad])
        if module.scheduler_factory is not None and module.scheduler_interval == "step":
            scheduler = module.scheduler_factory(optimizer=optimizer)

        def compute_loss():
            return module.training_loss(batch)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = compute_loss()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return loss.detach()

    return step


def recipe_patch_batch(name: str) -> tuple[int, int] | None:
    """(output patch side, batch) of the model's official recipe, `conf/experiment/<name>_*.yaml`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lle.config import CONFIG_DIR, register_resolvers

    register_resolvers()
    for path in sorted(Path(CONFIG_DIR, "experiment").glob(f"{name}_*.yaml")):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            data = compose("train", overrides=[f"experiment={path.stem}"]).data
        GlobalHydra.instance().clear()
        # data.crop_size is in input pixels: a packed RAW crop develops into an upscale× larger patch.
        return int(data.crop_size) * int(data.get("upscale") or 1), int(data.batch_size)
    return None
