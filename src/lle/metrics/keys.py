"""The names metrics are logged, stored and reported under: written once here, read everywhere.

A logged key is `<stage>/<name>`: the LightningModules log them, `metrics.json` stores them, `lle-report`
tabulates them and the configs monitor them (`callbacks.model_checkpoint.monitor: val/psnr`,
`optimized_metric: val/psnr_best`: YAML cannot import, so a test checks those two against these constants).
"""

from __future__ import annotations

TRAIN, VAL, TEST = "train", "val", "test"

# Per-image metrics of the protocol, without the stage prefix (also the columns of per_image.csv).
PSNR, SSIM, PSNR_GTMEAN, SSIM_GTMEAN = "psnr", "ssim", "psnr_gtmean", "ssim_gtmean"
IMAGE_METRICS = (PSNR, SSIM, PSNR_GTMEAN, SSIM_GTMEAN)
REFERENCE_METRICS = (PSNR, SSIM)  # the defaults; the GT-mean variants use the ground truth's brightness
# Optional test metrics (lle.metrics.evaluation): NIQE needs no reference (unpaired data), LPIPS does.
NIQE, LPIPS = "niqe", "lpips"


def key(stage: str, name: str) -> str:
    """`key("test", "psnr") == "test/psnr"`."""
    return f"{stage}/{name}"


TRAIN_LOSS = key(TRAIN, "loss")
VAL_PSNR = key(VAL, PSNR)
VAL_SSIM = key(VAL, SSIM)
VAL_PSNR_BEST = key(VAL, "psnr_best")  # the best validation PSNR so far: what checkpoints are selected on
TEST_PSNR = key(TEST, PSNR)
TEST_SSIM = key(TEST, SSIM)
TEST_PSNR_GTMEAN = key(TEST, PSNR_GTMEAN)
TEST_SSIM_GTMEAN = key(TEST, SSIM_GTMEAN)
TEST_NIQE = key(TEST, NIQE)
TEST_LPIPS = key(TEST, LPIPS)

# What the leaderboard shows for each run, in this order.
REPORTED = (TEST_PSNR, TEST_SSIM, TEST_PSNR_GTMEAN, TEST_SSIM_GTMEAN, TEST_LPIPS, TEST_NIQE, VAL_PSNR_BEST)
# The metrics where a lower value is better (the report marks them ↓); every other reported metric is higher-better.
LOWER_IS_BETTER = frozenset({NIQE, LPIPS, TEST_NIQE, TEST_LPIPS})


# Methods that train nothing, scored on the same test split beside every run: `baseline/<method>/test/psnr`.
# The method `input` is the low-light input itself (developed as the classical methods develop packed RAW).
BASELINE, INPUT = "baseline", "input"


def baseline_key(method: str, logged: str) -> str:
    """`baseline_key("dong2011", TEST_PSNR) == "baseline/dong2011/test/psnr"`."""
    return f"{BASELINE}/{method}/{logged}"


def is_baseline(name: str) -> bool:
    return name.startswith(f"{BASELINE}/")


def split_baseline_key(name: str) -> tuple[str, str]:
    """`("dong2011", "test/psnr")` from `"baseline/dong2011/test/psnr"`."""
    _, method, logged = name.split("/", 2)
    return method, logged


def is_result(name: str) -> bool:
    """Whether a logged key is a validation or test result (what metrics.json keeps of the logged values)."""
    return name.startswith((f"{VAL}/", f"{TEST}/"))
