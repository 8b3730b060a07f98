"""The pair statistics the generator is calibrated with read a known degradation back."""

import numpy as np
import pytest

from lle.data.calibration import linear_to_srgb, pair_statistics, srgb_to_linear, summarise
from lle.data.synthetic import seed_images


def darken(image: np.ndarray, gain: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """`image` divided by `gain` in linear light, plus Gaussian noise of `noise` 8-bit codes, as uint8."""
    dark = linear_to_srgb(srgb_to_linear(image / 255.0) / gain) * 255.0
    dark = dark + np.random.default_rng(seed).normal(0.0, noise, dark.shape)
    return np.clip(np.round(dark), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo():
    return seed_images()["coffee"]


def test_a_pure_exposure_change_reads_neutral(photo):
    stats = pair_statistics(darken(photo, 8.0), photo)
    assert stats.exposure_ratio == pytest.approx(8.0, rel=0.03)
    assert stats.cast_r == pytest.approx(1.0, abs=0.03) and stats.cast_b == pytest.approx(1.0, abs=0.03)
    assert stats.chroma_ratio == pytest.approx(1.0, abs=0.08)
    assert stats.shadow_contrast == pytest.approx(1.0, abs=0.1)
    assert stats.noise_g < 0.6  # 8-bit rounding only
    assert stats.low_brightness < stats.high_brightness


def test_noise_is_read_back_per_channel(photo):
    stats = pair_statistics(darken(photo, 8.0, noise=2.0), photo)
    for measured in (stats.noise_r, stats.noise_g, stats.noise_b):
        assert measured == pytest.approx(2.0, rel=0.2)


def test_a_colour_cast_reads_as_cast(photo):
    dark = srgb_to_linear(darken(photo, 8.0) / 255.0) * np.array([1.3, 1.0, 0.8])
    stats = pair_statistics(np.round(linear_to_srgb(dark) * 255).astype(np.uint8), photo)
    assert stats.cast_r == pytest.approx(1.3, rel=0.05) and stats.cast_b == pytest.approx(0.8, rel=0.05)


def test_summary_gives_percentiles_and_rejects_mismatched_pairs(photo):
    table = summarise([pair_statistics(darken(photo, g), photo) for g in (4.0, 8.0, 16.0)])
    assert table["exposure_ratio"]["median"] == pytest.approx(8.0, rel=0.03)
    assert table["exposure_ratio"]["p10"] < table["exposure_ratio"]["median"] < table["exposure_ratio"]["p90"]
    with pytest.raises(ValueError, match="one size"):
        pair_statistics(photo[:100], photo)
