"""Synthetic low-light pairs from clean sRGB photographs (docs/specs/data.md §3).

LOL-like sRGB pairs: unprocess to RAW, divide by an exposure ratio, add sensor noise, and send both the dark
noisy RAW and the clean RAW through the same forward ISP. SID-like RAW pairs: the same RAW as 14-bit sensor
values for a short and a long exposure, ready to be written as DNG.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lle.atomic import write_text_atomic
from lle.data.dng import XTRANS_SID, cfa_array, mosaic_cfa, write_dng
from lle.data.unprocess import (
    CameraParams,
    add_noise,
    demosaic,
    process,
    process_rgb,
    random_camera,
    random_noise_levels,
    unprocess,
    unprocess_rgb,
)

# Natural colour photographs that ship inside installed packages (no download); docs/specs/data.md §2 lists their
# licences. A photograph belongs to one scene (the two motorcycle views are one scene): splits are by scene.
SCENES = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
    "motorcycle_left": "motorcycle",
    "motorcycle_right": "motorcycle",
    "china": "china",
    "flower": "flower",
    "grace_hopper": "grace_hopper",
}
# Where each file lies inside its package: read as a file, never by importing the package's code.
_PACKAGE_FILES = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "motorcycle_right": ("skimage", "data/motorcycle_right.png"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),  # only with an extra that has it
}
SEED_NAMES = tuple(_PACKAGE_FILES)


def photo_path(name: str) -> Path | None:
    """The file of seed photograph `name` inside its installed package, or None where it is not installed."""
    package, relative = _PACKAGE_FILES[name]
    spec = importlib.util.find_spec(package)  # locates the package without running its code
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def photo_distribution(name: str) -> str:
    """The name to pip-install for seed photograph `name`."""
    return {"skimage": "scikit-image", "sklearn": "scikit-learn"}.get(_PACKAGE_FILES[name][0], _PACKAGE_FILES[name][0])


@functools.cache
def _load_seed_images() -> dict[str, np.ndarray]:
    from PIL import Image

    images = {}
    for name in SEED_NAMES:
        path = photo_path(name)
        if path is None:
            continue
        with Image.open(path) as file:
            image = crop_even(np.asarray(file.convert("RGB")))
        image.setflags(write=False)  # shared by every caller
        images[name] = image
    return images


def seed_images() -> dict[str, np.ndarray]:
    """The offline seed photographs that are installed, H×W×3 uint8 (read-only), cropped to even sizes.

    scikit-image (a core dependency) ships coffee (400×600, LOL's resolution), astronaut, chelsea, rocket and the
    two views of the motorcycle scene; scikit-learn (core) china and flower; matplotlib (the report, sweep and
    notebook extras) grace_hopper.
    """
    return dict(_load_seed_images())


def crop_even(image: np.ndarray) -> np.ndarray:
    """Drops the last row/column if needed so both sides are even (a Bayer mosaic needs 2×2 cells)."""
    h, w = image.shape[:2]
    return image[: h - h % 2, : w - w % 2]


def make_lol_pair(
    srgb: np.ndarray,
    rng: np.random.Generator,
    ratio_range: tuple[float, float] = (5, 50),
    shot_range: tuple[float, float] = (1e-4, 0.012),
    red_cast_range: tuple[float, float] = (1.0, 1.0),
    blue_cast_range: tuple[float, float] = (1.0, 1.0),
    black_range: tuple[float, float] = (0.0, 0.0),
    jpeg_quality_range: tuple[int, int] | None = None,
    jpeg_probability: float = 0.0,
    noise_after_demosaic: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """A LOL-like (low, high) pair, both H×W×3 uint8, from one sRGB H×W×3 uint8 image (docs/specs/data.md §3).

    An odd height or width is first cropped by one row/column, so the outputs may be one pixel smaller than
    `srgb`. The exposure ratio is log-uniform in `ratio_range`; noise levels follow Brooks et al. with the shot
    coefficient log-uniform in `shot_range`. `high` is the clean RAW through the same ISP as `low`, not the
    input itself, so the pair differs only by what a dark capture adds:

    * `red_cast_range`, `blue_cast_range`: the dark frame's white balance is off by a red and a blue factor, each
      log-uniform in its range (auto white balance misjudges dim light); (1, 1) leaves no cast.
    * `black_range`: the dark frame's black level is set too high by a fraction of its mean (white-balanced) RAW
      signal, uniform in this range, equally in every colour: its shadows are crushed to black without a cast
      (docs/specs/data.md §3.1); (0, 0) subtracts nothing.
    * `jpeg_quality_range`, `jpeg_probability`: with that probability the low image is JPEG-compressed at a
      quality drawn uniformly from the range (phone captures are JPEGs; LOL's PNGs are not).
    * `noise_after_demosaic`: the dark frame is demosaicked before its noise is added, so the noise is white at the
      image's resolution, as in captures downscaled after demosaicking (LOL's); otherwise the mosaic's noise is
      spread over neighbours by the demosaic (lag-1 correlation ≈ 0.5; docs/specs/data.md §3.1). The same shot
      coefficient then gives about twice the noise in 8-bit codes.
    """
    if srgb.ndim != 3 or srgb.shape[2] != 3 or srgb.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 image, got {srgb.shape} {srgb.dtype}")
    image = crop_even(srgb).astype(np.float32) / 255.0
    bayer, camera = unprocess(image, rng)
    ratio = _log_uniform(rng, ratio_range)
    shot, read = random_noise_levels(rng, shot_range)
    signal = (demosaic(bayer) if noise_after_demosaic else bayer) / np.float32(ratio)
    dark = add_noise(signal, shot, read, rng)
    # A black level set too high, the same in every white-balanced channel: real dark frames crush their shadows
    # without a cast (red/green 1.08, blue/green 0.95 on LOL; §3.1). The same number of sensor units in every
    # channel would take twice as much from red and blue after their white-balance gains and tint every dark
    # frame green, which taught the network to remove a green that real captures do not have.
    balance = _white_balance_gains(camera, per_pixel_rgb=noise_after_demosaic)
    dark -= np.float32(rng.uniform(*black_range) * (signal * balance).mean()) / balance  # process() clips below 0
    cast = dataclasses.replace(
        camera,
        red_gain=camera.red_gain * _log_uniform(rng, red_cast_range),
        blue_gain=camera.blue_gain * _log_uniform(rng, blue_cast_range),
    )
    low = to_uint8(process_rgb(dark, cast) if noise_after_demosaic else process(dark, cast))
    if jpeg_quality_range is not None and rng.uniform() < jpeg_probability:
        low = jpeg_roundtrip(low, int(rng.integers(jpeg_quality_range[0], jpeg_quality_range[1] + 1)))
    return low, to_uint8(process(bayer, camera))


def _white_balance_gains(camera: CameraParams, per_pixel_rgb: bool) -> np.ndarray:
    """The camera's white-balance gains per channel of an H×W×3 camera-RGB image or of RGGB planes."""
    red, blue = camera.red_gain, camera.blue_gain
    return np.array([red, 1.0, blue] if per_pixel_rgb else [red, 1.0, 1.0, blue], dtype=np.float32)


def _log_uniform(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """`image` (H×W×3 uint8) encoded as a JPEG at `quality` (1-95, 4:2:0 chroma) and decoded again, in memory."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


@dataclass(frozen=True)
class RawMetadata:
    """What a DNG needs besides the mosaic, plus the noise levels the capture was simulated with."""

    pattern: np.ndarray  # CFA colour codes, 0/1/2 = R/G/B
    black_level: int
    white_level: int
    color_matrix: np.ndarray  # XYZ->camera: LibRaw then develops with the unprocessing's cam2rgb
    as_shot_neutral: np.ndarray
    shot: float
    read: float

    def dng_tags(self) -> dict:
        """Keyword arguments for `lle.data.dng.write_dng`."""
        return dict(
            pattern=self.pattern,
            black_level=self.black_level,
            white_level=self.white_level,
            color_matrix=self.color_matrix,
            as_shot_neutral=self.as_shot_neutral,
        )


def make_sid_scene(
    srgb: np.ndarray,
    rng: np.random.Generator,
    ratios: Sequence[float],
    black: int = 512,
    white: int = 16383,
    shot_range: tuple[float, float] = (1e-5, 1e-3),
    pattern: str | np.ndarray = "RGGB",
) -> tuple[list[np.ndarray], np.ndarray, RawMetadata]:
    """One scene as sensor values: (short exposures, one per ratio; the long exposure; metadata).

    All are H×W uint16 mosaics in DN with `black` offset and `white` saturation, H and W cropped to whole CFA
    tiles. The long exposure is the unprocessed image (plus its own, weak, noise); a short one is it divided
    by its ratio plus noise at the same sensor levels (same ISO). Noise is added before the black offset and
    is not clipped at zero signal, as on a real sensor: clipping first doubled the amplified dark mean.
    The default `shot_range` is for a full-frame sensor (≈ 1/full-well electrons), our choice, since Brooks'
    phone-sensor range leaves nothing but noise at ×100-×300.
    """
    codes = cfa_array(pattern)
    h, w = srgb.shape[:2]
    srgb = srgb[: h - h % codes.shape[0], : w - w % codes.shape[1]]
    camera = random_camera(rng)
    clean = mosaic_cfa(unprocess_rgb(srgb.astype(np.float32) / 255.0, camera), codes)
    shot, read = random_noise_levels(rng, shot_range)

    def to_dn(signal: np.ndarray) -> np.ndarray:
        dn = np.round(add_noise(signal, shot, read, rng) * (white - black) + black)
        return np.clip(dn, 0, white).astype(np.uint16)

    shorts = [to_dn(clean / np.float32(ratio)) for ratio in ratios]
    metadata = RawMetadata(codes, black, white, camera.xyz2cam, camera.as_shot_neutral, shot, read)
    return shorts, to_dn(clean), metadata


def make_sid_pair(
    srgb: np.ndarray,
    rng: np.random.Generator,
    ratio: float,
    black: int = 512,
    white: int = 16383,
    shot_range: tuple[float, float] = (1e-5, 1e-3),
    pattern: str | np.ndarray = "RGGB",
) -> tuple[np.ndarray, np.ndarray, RawMetadata]:
    """A SID-like (short, long, metadata) RAW pair; see `make_sid_scene`."""
    (short,), long, metadata = make_sid_scene(srgb, rng, [ratio], black, white, shot_range, pattern)
    return short, long, metadata


# The official SID captures: a 10 s long exposure against 0.1/0.04/0.033 s, i.e. ×100, ×250 and ×303 (the loader
# caps the last at 300).
SID_LONG_EXPOSURE = 10.0
SID_SHORT_EXPOSURES = (0.1, 0.04, 0.033)
# The first digit of a SID scene id names its split.
SID_SPLIT_DIGIT = {"train": 0, "test": 1, "val": 2}
_CAMERAS = {"Sony": ("RGGB", 512), "Fuji": (XTRANS_SID, 1024)}  # CFA and SID's black level


def write_mini_sid_tree(
    root: str | os.PathLike,
    n_scenes: int = 3,
    camera: str = "Sony",
    size: tuple[int, int] = (128, 192),
    seed: int = 0,
) -> dict[str, Path]:
    """Writes a miniature SID dataset of DNGs in the official layout and returns {split: list file}.

    `root/<camera>/{short,long}/SSSSS_00_<exp>s.dng` and `root/<camera>_{train,val,test}_list.txt` with rows
    `./Sony/short/00001_00_0.1s.dng ./Sony/long/00001_00_10s.dng ISO200 F8`. Scenes cycle through train, test
    and val (scene ids 0xxxx, 1xxxx, 2xxxx) and reuse the skimage seed photographs resized to `size`; each
    has one 10 s long exposure and three short ones (ratios 100, 250, 300). 'Sony' is an RGGB Bayer sensor
    with black 512; 'Fuji' an X-Trans one with black 1024, which LibRaw only demosaics above 512×512.
    """
    from skimage.transform import resize

    if camera not in _CAMERAS:
        raise ValueError(f"camera must be one of {sorted(_CAMERAS)}, got {camera!r}")
    pattern, black = _CAMERAS[camera]
    if camera == "Fuji" and (min(size) < 516 or size[0] % 6 or size[1] % 6):
        raise ValueError(f"a Fuji tree needs sizes ≥ 516 (LibRaw's X-Trans demosaic), multiples of 6, got {size}")
    root = Path(root)
    for folder in ("short", "long"):
        (root / camera / folder).mkdir(parents=True, exist_ok=True)

    seeds = list(seed_images().values())
    rows: dict[str, list[str]] = {split: [] for split in SID_SPLIT_DIGIT}
    splits = ("train", "test", "val")
    for index in range(n_scenes):
        split = splits[index % 3]
        scene_id = SID_SPLIT_DIGIT[split] * 10000 + index // 3 + 1
        rng = np.random.default_rng((seed, scene_id))
        image = resize(seeds[index % len(seeds)], size, anti_aliasing=True)
        image = np.round(image * 255).astype(np.uint8)
        ratios = [SID_LONG_EXPOSURE / exposure for exposure in SID_SHORT_EXPOSURES]
        shorts, long, metadata = make_sid_scene(image, rng, ratios, black=black, pattern=pattern)

        long_name = f"{camera}/long/{scene_id:05d}_00_{SID_LONG_EXPOSURE:g}s.dng"
        write_dng(root / long_name, long, make=camera, model="lle mini SID", **metadata.dng_tags())
        iso = _iso_label(metadata.shot)
        for exposure, short in zip(SID_SHORT_EXPOSURES, shorts):
            short_name = f"{camera}/short/{scene_id:05d}_00_{exposure:g}s.dng"
            write_dng(root / short_name, short, make=camera, model="lle mini SID", **metadata.dng_tags())
            rows[split].append(f"./{short_name} ./{long_name} ISO{iso} F8")

    lists = {}
    for split, split_rows in rows.items():
        lists[split] = root / f"{camera}_{split}_list.txt"
        write_text_atomic(lists[split], "".join(row + "\n" for row in split_rows))
    return lists


def _iso_label(shot: float) -> int:
    # Shot noise grows with gain: call the quietest default level ISO 100 and double per doubling.
    return int(100 * 2 ** round(np.log2(shot / 1e-5)))
