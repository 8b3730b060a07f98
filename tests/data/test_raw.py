from pathlib import Path

import numpy as np
import pytest

from lle.data.dng import XTRANS_SID, mosaic_cfa, write_dng
from lle.data.raw import (
    SID_SONY_LEVELS,
    RawFileError,
    exposure_ratio,
    load_packed,
    pack_bayer,
    pack_raw,
    pack_xtrans,
    parse_exposure,
    postprocess_ground_truth,
    read_raw,
    read_sid_list,
)
from lle.data.synthetic import write_mini_sid_tree

BLACK, WHITE = 512, 16383
# Distinct sensor values for R, the G sharing R's row, B and the G sharing B's row.
SITE_VALUES = {"R": 1512, "Gr": 3512, "B": 5512, "Gb": 7512}


@pytest.fixture(scope="module")
def sony_tree(tmp_path_factory) -> dict[str, Path]:
    return write_mini_sid_tree(tmp_path_factory.mktemp("sid"), n_scenes=3, camera="Sony", size=(64, 96), seed=1)


@pytest.fixture(scope="module")
def fuji_tree(tmp_path_factory) -> dict[str, Path]:
    return write_mini_sid_tree(tmp_path_factory.mktemp("sid"), n_scenes=1, camera="Fuji", size=(516, 516))


def bayer_site_mosaic(pattern: str, height: int = 32, width: int = 48) -> np.ndarray:
    """A mosaic whose four 2×2 sites hold SITE_VALUES according to `pattern`."""
    tile = np.empty((2, 2), np.uint16)
    for (y, x), colour in np.ndenumerate(np.array(list(pattern)).reshape(2, 2)):
        if colour == "G":
            row = "".join(pattern[2 * y : 2 * y + 2])
            colour = "Gr" if "R" in row else "Gb"
        tile[y, x] = SITE_VALUES[colour]
    return np.tile(tile, (height // 2, width // 2))


def normalised(value: int, black: float = BLACK, white: float = WHITE) -> float:
    return (value - black) / (white - black)


def test_dng_reads_back_bit_exact(tmp_path):
    cfa = np.random.default_rng(0).integers(0, 2**14, (32, 48)).astype(np.uint16)
    write_dng(tmp_path / "a.dng", cfa, "GBRG", black_level=BLACK, white_level=WHITE, as_shot_neutral=(0.5, 1, 0.8))
    with read_raw(tmp_path / "a.dng") as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, cfa)
        assert raw.black_level_per_channel == [BLACK] * 4 and raw.white_level == WHITE
        np.testing.assert_allclose(raw.camera_whitebalance[:3], [2.0, 1.0, 1.25], rtol=1e-3)


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_pack_bayer_gives_sid_order_for_every_pattern(tmp_path, pattern):
    mosaic = bayer_site_mosaic(pattern)
    write_dng(tmp_path / "p.dng", mosaic, pattern, black_level=BLACK, white_level=WHITE)
    expected = [normalised(SITE_VALUES[c]) for c in ("R", "Gr", "B", "Gb")]
    with read_raw(tmp_path / "p.dng") as raw:
        packed = pack_bayer(raw)
    assert packed.shape == (4, 16, 24) and packed.dtype == np.float32
    np.testing.assert_allclose(packed.reshape(4, -1).min(1), expected, rtol=1e-6)
    np.testing.assert_allclose(packed.reshape(4, -1).max(1), expected, rtol=1e-6)
    # The bare-array path agrees with the file path.
    np.testing.assert_array_equal(pack_bayer(mosaic, pattern, BLACK, WHITE), packed)


def test_pack_bayer_reads_per_channel_black_and_accepts_overrides(tmp_path):
    mosaic = bayer_site_mosaic("RGGB")
    # Per-site black levels, row-major over the RGGB tile: R, Gr, Gb, B.
    write_dng(tmp_path / "b.dng", mosaic, "RGGB", black_level=(500, 510, 520, 530), white_level=WHITE)
    with read_raw(tmp_path / "b.dng") as raw:
        packed = pack_bayer(raw)
        sid = pack_bayer(raw, black=SID_SONY_LEVELS[0], white=SID_SONY_LEVELS[1])
    expected = [
        normalised(SITE_VALUES["R"], 500),
        normalised(SITE_VALUES["Gr"], 510),
        normalised(SITE_VALUES["B"], 530),
        normalised(SITE_VALUES["Gb"], 520),
    ]
    np.testing.assert_allclose(packed[:, 0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(sid[:, 0, 0], [normalised(SITE_VALUES[c]) for c in ("R", "Gr", "B", "Gb")], rtol=1e-6)


def test_pack_bayer_clips_below_black_and_crops_odd_sizes():
    mosaic = np.full((7, 9), 100, np.uint16)
    packed = pack_bayer(mosaic, "RGGB", BLACK, WHITE)
    assert packed.shape == (4, 3, 4) and packed.min() == 0.0


def test_unsupported_cfas_are_refused(tmp_path, fuji_tree):
    with pytest.raises(ValueError, match="unsupported CFA"):
        pack_bayer(np.zeros((4, 4), np.uint16), "RRGB", BLACK, WHITE)
    fuji_long = read_sid_list(fuji_tree["train"])[0].long
    with read_raw(fuji_long) as raw, pytest.raises(ValueError, match="pack_xtrans"):
        pack_bayer(raw)
    with pytest.raises(ValueError, match="X-Trans"):
        pack_xtrans(np.zeros((6, 6), np.uint16), np.roll(XTRANS_SID, 1, axis=1), 1024, WHITE)
    # From a file, the error names it and says what was expected.
    four_by_four = np.array([[0, 1, 2, 1], [1, 2, 1, 0]] * 2)
    for name, pattern, expected in [
        ("two_reds.dng", "RRGB", "one R, two G and one B"),
        ("shifted_xtrans.dng", np.roll(XTRANS_SID, 1, axis=1), "X-Trans phase of the official SID Fuji code"),
        ("four_by_four.dng", four_by_four, "only 2×2 Bayer and 6×6 X-Trans"),
    ]:
        write_dng(tmp_path / name, np.full((36, 36), 2000, np.uint16), pattern, black_level=BLACK)
        with pytest.raises(ValueError, match=f"{name}.*{expected}"):
            load_packed(tmp_path / name)


def test_pack_xtrans_follows_the_official_layout():
    colour_values = np.float32([1000, 2000, 3000])  # R, G, B
    mosaic = mosaic_cfa(np.broadcast_to(colour_values, (528, 528, 3)), XTRANS_SID).astype(np.uint16)
    packed = pack_xtrans(mosaic[:523, :527], XTRANS_SID, 1024, WHITE)  # cropped to 522×522
    assert packed.shape == (9, 174, 174)
    red, green, blue = (normalised(v, 1024) for v in colour_values)
    for channel, value in zip(range(9), [red, green, blue, red, blue, green, green, green, green]):
        np.testing.assert_allclose(packed[channel], max(value, 0.0), atol=1e-6)


def test_fuji_tree_packs_to_nine_channels_and_develops(fuji_tree):
    entry = read_sid_list(fuji_tree["train"])[0]
    with read_raw(entry.short) as raw:
        assert raw.raw_pattern.shape == (6, 6)
        assert pack_raw(raw).shape == (9, 172, 172)
        assert raw.black_level_per_channel == [1024] * 4
    assert postprocess_ground_truth(entry.long).shape == (516, 516, 3)


def test_mini_tree_lists_and_ratios(sony_tree):
    entries = {split: read_sid_list(path) for split, path in sony_tree.items()}
    for split, digit in (("train", "0"), ("test", "1"), ("val", "2")):
        assert entries[split] and all(e.short.name.startswith(digit) for e in entries[split])
        assert all(e.short.is_file() and e.long.is_file() for e in entries[split])
    first = sony_tree["train"].read_text().splitlines()[0]
    assert first.startswith("./Sony/short/00001_00_0.1s.dng ./Sony/long/00001_00_10s.dng ISO")
    assert first.endswith(" F8")
    ratios = {exposure_ratio(e.short, e.long) for e in entries["train"]}
    assert ratios == {100.0, 250.0, 300.0}


def test_mini_tree_sensor_values_and_ground_truth(sony_tree):
    short, long, *_ = read_sid_list(sony_tree["test"])[0]
    with read_raw(short) as raw:
        dn = raw.raw_image_visible
        assert dn.shape == (64, 96) and dn.max() <= WHITE
        assert (dn < BLACK).any()  # read noise below black survives, as on a real sensor
        amplified = pack_bayer(raw) * exposure_ratio(short, long)
    with read_raw(long) as raw:
        reference = pack_bayer(raw)
    assert abs(amplified.mean() / reference.mean() - 1) < 0.15
    ground_truth = postprocess_ground_truth(long)
    assert ground_truth.shape == (64, 96, 3) and ground_truth.dtype == np.uint16
    assert 0.05 < ground_truth.mean() / 65535 < 0.9


def test_neutral_scene_develops_neutral(tmp_path):
    write_dng(tmp_path / "grey.dng", np.full((32, 32), 4000, np.uint16), "RGGB", black_level=BLACK, white_level=WHITE)
    rgb = postprocess_ground_truth(tmp_path / "grey.dng").reshape(-1, 3).mean(0)
    np.testing.assert_allclose(rgb / rgb.mean(), 1.0, atol=0.01)


@pytest.mark.parametrize(
    "name,seconds",
    [
        ("00001_00_0.1s.ARW", 0.1),
        ("10003_05_0.033s.RAF", 0.033),
        ("./Sony/long/20001_00_10s.dng", 10.0),
        ("00001_00_30s.ARW", 30.0),
    ],
)
def test_parse_exposure(name, seconds):
    assert parse_exposure(name) == seconds


def test_exposure_ratio_cap():
    assert exposure_ratio("00001_00_0.033s.ARW", "00001_00_10s.ARW") == 300.0
    assert exposure_ratio(0.033, 10.0, cap=None) == pytest.approx(303.03, abs=0.01)
    with pytest.raises(ValueError, match="no exposure"):
        parse_exposure("00001_00.ARW")


def test_bad_list_rows_name_the_file_and_line(tmp_path):
    good = "./Sony/short/00001_00_0.1s.ARW ./Sony/long/00001_00_10s.ARW ISO200 F5.6"
    (tmp_path / "ok.txt").write_text(good + "\n\n")
    (entry,) = read_sid_list(tmp_path / "ok.txt")
    assert entry.short == tmp_path / "Sony/short/00001_00_0.1s.ARW" and (entry.iso, entry.fnumber) == (200, 5.6)
    for bad in ("./a.ARW ./b.ARW ISO200", good.replace("ISO200", "200"), good.replace("0.1s", "short")):
        (tmp_path / "bad.txt").write_text(good + "\n" + bad + "\n")
        with pytest.raises(ValueError, match=r"bad\.txt, line 2"):
            read_sid_list(tmp_path / "bad.txt")


def test_truncated_or_missing_files_are_named(tmp_path, sony_tree):
    source = read_sid_list(sony_tree["val"])[0].long
    truncated = tmp_path / "00009_00_10s.dng"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(RawFileError, match=r"00009_00_10s\.dng"):
        read_raw(truncated)
    with pytest.raises(RawFileError, match=r"00009_00_10s\.dng"):
        postprocess_ground_truth(truncated)
    with pytest.raises(FileNotFoundError, match=r"missing\.ARW"):
        read_raw(tmp_path / "missing.ARW")


def test_rawpy_and_tifffile_are_needed_only_by_what_reads_or_writes_such_files(sony_tree, tmp_path):
    """Without rawpy and tifffile every data module imports, a prepared SID cache is read, and opening a RAW
    file, writing a DNG or reading a TIFF says what to install."""
    import subprocess
    import sys

    from lle.data.sid_cache import prepare_sid

    prepare_sid([sony_tree["val"]], tmp_path / "cache")
    (tmp_path / "image.tif").write_bytes(b"II*\x00")
    script = f"""
import sys
sys.modules["rawpy"] = sys.modules["tifffile"] = None  # any import of them now raises ImportError
import lle.data.dng, lle.data.io, lle.data.paired, lle.data.raw, lle.data.sid, lle.data.sid_cache
import lle.data.synthetic, lle.data.synthetic_lol, lle.data.synthetic_raw
import numpy as np
from lle.data.sid import SIDDataset
item = SIDDataset({str(sony_tree["val"])!r}, crop_size=8, cache_dir={str(tmp_path / "cache")!r})[0]
assert item["input"].shape == (4, 8, 8)
for call in (lambda: lle.data.raw.read_raw({str(sony_tree["val"].parent / "Sony/long/20001_00_10s.dng")!r}),
             lambda: lle.data.dng.write_dng({str(tmp_path / "x.dng")!r}, np.zeros((32, 32), np.uint16)),
             lambda: lle.data.io.read_image({str(tmp_path / "image.tif")!r})):
    try:
        call()
    except ImportError as error:
        print(error)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        'camera RAW files need rawpy: pip install "lle[raw]"',
        "writing DNG files (the synthetic RAW data) needs tifffile: pip install tifffile",
        "TIFF images need tifffile: pip install tifffile",
    ]
    assert not (tmp_path / "x.dng").exists() and list(tmp_path.glob(".x.dng*")) == []
