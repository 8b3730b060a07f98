"""A minimal DNG writer (docs/specs/data.md §4): a CFA image that rawpy/LibRaw reads like a camera RAW file.

Only what LibRaw needs to unpack and develop the mosaic is written: the CFA layout, black and white levels,
ColorMatrix1 (XYZ->camera, D65) and AsShotNeutral. Read-back of `raw_image_visible` is bit-exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

import numpy as np

from lle.atomic import atomic_path

# DNG/TIFF-EP CFA colour codes.
CFA_CODES = {"R": 0, "G": 1, "B": 2}
# The X-Trans phase that the official SID Fuji packing assumes (`train_Fuji.py` `pack_raw`), 0/1/2 = R/G/B.
XTRANS_SID = np.array(
    [
        [0, 2, 1, 2, 0, 1],
        [1, 1, 0, 1, 1, 2],
        [1, 1, 2, 1, 1, 0],
        [2, 0, 1, 0, 2, 1],
        [1, 1, 2, 1, 1, 0],
        [1, 1, 0, 1, 1, 2],
    ],
    dtype=np.uint8,
)
_D65 = 21  # EXIF LightSource code for CalibrationIlluminant1
_RATIONAL_DENOMINATOR = 10000
_LIBRAW_MIN_SIDE = 22  # LibRaw rejects smaller images as "not a RAW file"


def cfa_array(pattern: str | np.ndarray) -> np.ndarray:
    """'RGGB'-style string (row-major 2×2) or an n×m array of 0/1/2 -> uint8 array of CFA colour codes."""
    if isinstance(pattern, str):
        if len(pattern) != 4 or set(pattern.upper()) - set(CFA_CODES):
            raise ValueError(f"a Bayer pattern is four letters of R, G, B such as 'RGGB', got {pattern!r}")
        return np.array([CFA_CODES[c] for c in pattern.upper()], dtype=np.uint8).reshape(2, 2)
    array = np.asarray(pattern)
    if array.ndim != 2 or not np.isin(array, (0, 1, 2)).all():
        raise ValueError(f"a CFA pattern array holds 0/1/2 (R/G/B) in 2-D, got {array!r}")
    return array.astype(np.uint8)


def mosaic_cfa(rgb: np.ndarray, pattern: str | np.ndarray) -> np.ndarray:
    """Samples an H×W×3 image through a tiled CFA -> H×W (H, W multiples of the pattern size)."""
    codes = cfa_array(pattern)
    ph, pw = codes.shape
    h, w = rgb.shape[:2]
    if h % ph or w % pw:
        raise ValueError(f"image {h}×{w} is not a whole number of {ph}×{pw} CFA tiles")
    channel = np.tile(codes, (h // ph, w // pw))
    return np.take_along_axis(rgb, channel[..., None].astype(np.intp), axis=-1)[..., 0]


def write_dng(
    path: str | PathLike,
    cfa: np.ndarray,
    pattern: str | np.ndarray = "RGGB",
    black_level: int | Sequence[int] = 512,
    white_level: int = 16383,
    color_matrix: np.ndarray | None = None,
    as_shot_neutral: Sequence[float] = (1.0, 1.0, 1.0),
    make: str = "lle",
    model: str = "Synthetic",
) -> None:
    """Writes an H×W uint16 mosaic as an uncompressed DNG 1.4.

    `pattern` is a 2×2 Bayer string ('RGGB', 'BGGR', 'GRBG', 'GBRG') or a CFA array such as `XTRANS_SID`.
    `black_level` is one value, or four values for the sites of a 2×2 pattern in row-major order (written with
    BlackLevelRepeatDim 2×2, as cameras with per-channel black levels do). `color_matrix` is DNG ColorMatrix1,
    XYZ(D65)->camera (identity if None); `as_shot_neutral` is the camera's response to white, i.e. the reciprocal
    white-balance gains.
    """
    cfa = np.asarray(cfa)
    if cfa.ndim != 2 or cfa.dtype != np.uint16:
        raise ValueError(f"cfa must be an H×W uint16 array, got {cfa.shape} {cfa.dtype}")
    if min(cfa.shape) < _LIBRAW_MIN_SIDE:
        raise ValueError(f"LibRaw refuses images under {_LIBRAW_MIN_SIDE} pixels a side, got {cfa.shape}")
    codes = cfa_array(pattern)
    color_matrix = np.eye(3) if color_matrix is None else np.asarray(color_matrix, dtype=np.float64)
    if color_matrix.shape != (3, 3):
        raise ValueError(f"color_matrix must be 3×3, got {color_matrix.shape}")
    blacks = tuple(int(b) for b in np.atleast_1d(black_level))
    if len(blacks) not in (1, 4):
        raise ValueError(f"black_level is one value or four (2×2 sites), got {black_level!r}")
    black_repeat = (1, 1) if len(blacks) == 1 else (2, 2)
    tags = [
        (271, "s", 0, make, True),  # Make
        (272, "s", 0, model, True),  # Model
        (33421, "H", 2, codes.shape, True),  # CFARepeatPatternDim
        (33422, "B", codes.size, tuple(int(c) for c in codes.ravel()), True),  # CFAPattern
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{make} {model}", True),  # UniqueCameraModel
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50713, "H", 2, black_repeat, True),  # BlackLevelRepeatDim
        (50714, "H", len(blacks), blacks, True),  # BlackLevel
        (50717, "H", 1, (int(white_level),), True),  # WhiteLevel
        (50721, "2i", 9, _rationals(color_matrix), True),  # ColorMatrix1 (SRATIONAL)
        (50728, "2I", 3, _rationals(as_shot_neutral), True),  # AsShotNeutral (RATIONAL)
        (50778, "H", 1, (_D65,), True),  # CalibrationIlluminant1
    ]
    tifffile = _import_tifffile()
    # Whole files only: a tree that is being written (or was interrupted) never holds a truncated DNG.
    with atomic_path(path) as partial:
        tifffile.imwrite(
            partial,
            cfa,
            photometric=32803,  # CFA
            planarconfig=1,
            compression=None,
            subfiletype=0,  # the main image, not a preview
            metadata=None,
            extratags=tags,
        )


def _import_tifffile():
    # Imported here, not with the module: raw.py and the sRGB synthetic data import this module for its CFA
    # helpers, which need no tifffile.
    try:
        import tifffile
    except ImportError as error:
        raise ImportError("writing DNG files (the synthetic RAW data) needs tifffile: pip install tifffile") from error
    return tifffile


def _rationals(values: Sequence[float] | np.ndarray) -> tuple[int, ...]:
    flat = np.asarray(values, dtype=np.float64).ravel()
    pairs = [(int(np.rint(v * _RATIONAL_DENOMINATOR)), _RATIONAL_DENOMINATOR) for v in flat]
    return tuple(x for pair in pairs for x in pair)
