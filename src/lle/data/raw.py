"""Reading camera RAW files the way Learning-to-See-in-the-Dark (SID, Chen et al. CVPR 2018) does.

Official code: `cchen156/Learning-to-See-in-the-Dark` `train_Sony.py` / `train_Fuji.py`. What is generalised:
exposures are parsed with a regex (any extension), Bayer packing reads the CFA layout and black/white levels
from the file (the README's advice for other cameras) and can be overridden with SID's hard-coded values.
Packed arrays are channels-first float32, normalised to [0, 1] by (x - black) / (white - black).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lle.data.dng import XTRANS_SID, cfa_array

if TYPE_CHECKING:  # annotations only: rawpy is imported where a RAW file is opened
    import rawpy

# SID's hard-coded levels (`pack_raw`); the README says to read them from the file for other cameras.
SID_SONY_LEVELS = (512, 16383)
SID_FUJI_LEVELS = (1024, 16383)
SID_RATIO_CAP = 300  # ×303 (10 s / 0.033 s) is treated as ×300

_EXPOSURE = re.compile(r"_(\d+(?:\.\d*)?)s\.[^./\\]+$")
_ISO = re.compile(r"ISO(\d+)$", re.IGNORECASE)
_FNUMBER = re.compile(r"F(\d+(?:\.\d*)?)$", re.IGNORECASE)


class RawFileError(OSError):
    """A RAW file that LibRaw cannot open or decode (missing, truncated, corrupt, unsupported)."""


def _import_rawpy():
    # Only opening a camera RAW file needs LibRaw: list parsing, packing arrays, and a prepared SID cache do not,
    # so this module (and every module that imports it) loads without rawpy.
    try:
        import rawpy
    except ImportError as error:
        raise ImportError('camera RAW files need rawpy: pip install "lle[raw]"') from error
    return rawpy


class SidListEntry(NamedTuple):
    short: Path
    long: Path
    iso: int
    fnumber: float
    line: int = 0  # in the list file, for error messages


def parse_exposure(filename: str | os.PathLike) -> float:
    """Exposure time in seconds from a SID name `SSSSS_BB_<exp>s.EXT`, e.g. `00001_00_0.1s.ARW` -> 0.1."""
    match = _EXPOSURE.search(Path(filename).name)
    if match is None:
        raise ValueError(f"{filename}: no exposure time; expected a name like 00001_00_0.1s.ARW")
    return float(match.group(1))


def exposure_ratio(
    short: str | os.PathLike | float, long: str | os.PathLike | float, cap: float | None = SID_RATIO_CAP
) -> float:
    """long / short exposure (file names or seconds), capped at `cap` as in the official code (None: no cap)."""
    short_s = short if isinstance(short, (int, float)) else parse_exposure(short)
    long_s = long if isinstance(long, (int, float)) else parse_exposure(long)
    ratio = long_s / short_s
    return float(ratio if cap is None else min(ratio, cap))


def read_sid_list(list_file: str | os.PathLike) -> list[SidListEntry]:
    """Parses an official `<camera>_<split>_list.txt`; paths are resolved against the list file's folder.

    Rows: `./Sony/short/00001_00_0.1s.ARW ./Sony/long/00001_00_10s.ARW ISO200 F8`. Blank lines are skipped.
    """
    list_file = Path(list_file)
    root = list_file.parent
    entries = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{list_file}, line {number}"
        if len(fields) != 4:
            raise ValueError(f"{where}: expected 'SHORT LONG ISO<n> F<n>', got {line!r}")
        iso, fnumber = _ISO.match(fields[2]), _FNUMBER.match(fields[3])
        if iso is None or fnumber is None:
            raise ValueError(f"{where}: cannot read ISO/F-number from {fields[2]!r} {fields[3]!r}")
        for name in fields[:2]:
            if _EXPOSURE.search(name) is None:
                raise ValueError(f"{where}: no exposure time in {name!r}")
        entries.append(
            SidListEntry(root / fields[0], root / fields[1], int(iso.group(1)), float(fnumber.group(1)), number)
        )
    return entries


def read_raw(path: str | os.PathLike) -> rawpy.RawPy:
    """Opens and decodes a RAW file; use as a context manager. Errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"RAW file not found: {path}")
    rawpy = _import_rawpy()
    try:
        raw = rawpy.imread(str(path))
        _ = raw.raw_image_visible  # decoding is lazy: force it so a truncated file fails here
    except rawpy.LibRawError as error:
        raise RawFileError(f"cannot decode RAW file {path} (truncated, corrupt or unsupported): {error}") from error
    return raw


def pack_bayer(
    raw: rawpy.RawPy | np.ndarray,
    pattern: str | np.ndarray | None = None,
    black: float | np.ndarray | None = None,
    white: float | None = None,
) -> np.ndarray:
    """A 2×2 Bayer mosaic -> 4×H/2×W/2 float32 in SID's channel order [R, G(R row), B, G(B row)].

    `raw` is a rawpy object (CFA layout, per-channel black and white level read from it) or an H×W array,
    which then needs `pattern` ('RGGB', ... or a 2×2 array of 0/1/2 = R/G/B), `black` and `white`. Given
    values override the file's, e.g. SID's 512/16383 (`SID_SONY_LEVELS`). An odd last row/column is dropped.
    """
    mosaic, codes, site_black, white = _mosaic_and_levels(raw, pattern, black, white)
    if codes.shape != (2, 2):
        raise ValueError(
            f"pack_bayer needs a 2×2 Bayer CFA, got a {codes.shape[0]}×{codes.shape[1]} one; "
            "use pack_xtrans for X-Trans"
        )
    flat = list(codes.ravel())
    if sorted(flat) != [0, 1, 1, 2]:
        raise ValueError(f"unsupported CFA {codes.tolist()}: a Bayer pattern needs one R, two G and one B")
    r_site, b_site = divmod(flat.index(0), 2), divmod(flat.index(2), 2)
    # SID's order pairs each green with the row it shares: the G next to R, then B, then the G next to B.
    sites = [r_site, (r_site[0], 1 - r_site[1]), b_site, (b_site[0], 1 - b_site[1])]
    h, w = mosaic.shape[0] // 2 * 2, mosaic.shape[1] // 2 * 2
    image = _normalise(mosaic[:h, :w], site_black, white)
    return np.stack([image[y::2, x::2] for y, x in sites])


# (channel, output row parity, output column parity, mosaic row, mosaic column) within a 6×6 tile: the
# official Fuji `pack_raw` layout. Channels 0/3 are red, 2/4 blue, 1 and 5-8 green.
_XTRANS_TILE_SITES = [
    (0, 0, 0, 0, 0), (0, 0, 1, 0, 4), (0, 1, 0, 3, 1), (0, 1, 1, 3, 3),
    (1, 0, 0, 0, 2), (1, 0, 1, 0, 5), (1, 1, 0, 3, 2), (1, 1, 1, 3, 5),
    (2, 0, 0, 0, 1), (2, 0, 1, 0, 3), (2, 1, 0, 3, 0), (2, 1, 1, 3, 4),
    (3, 0, 0, 1, 2), (3, 0, 1, 2, 5), (3, 1, 0, 5, 2), (3, 1, 1, 4, 5),
    (4, 0, 0, 2, 2), (4, 0, 1, 1, 5), (4, 1, 0, 4, 2), (4, 1, 1, 5, 5),
]  # fmt: skip
# Channels 5-8 take the green 2×2 blocks of every 3×3 cell: (row, column) offsets with stride 3.
_XTRANS_CELL_SITES = [(5, 1, 0), (6, 1, 1), (7, 2, 0), (8, 2, 1)]


def pack_xtrans(
    raw: rawpy.RawPy | np.ndarray,
    pattern: np.ndarray | None = None,
    black: float | np.ndarray | None = None,
    white: float | None = None,
) -> np.ndarray:
    """An X-Trans mosaic -> 9×H/3×W/3 float32 exactly as the official SID Fuji code packs it.

    H and W are first cropped to multiples of 6. The official code hard-codes the sites of one X-Trans phase
    (`lle.data.dng.XTRANS_SID`); a file whose CFA has another phase is refused rather than silently
    scrambled (pass `pattern=XTRANS_SID` to force it). Levels as in `pack_bayer`; SID uses 1024/16383.
    """
    mosaic, codes, site_black, white = _mosaic_and_levels(raw, pattern, black, white)
    if not np.array_equal(codes, XTRANS_SID):
        raise ValueError(
            f"unsupported CFA {codes.tolist()}: pack_xtrans expects the X-Trans phase of the "
            f"official SID Fuji code, {XTRANS_SID.tolist()}"
        )
    h, w = mosaic.shape[0] // 6 * 6, mosaic.shape[1] // 6 * 6
    image = _normalise(mosaic[:h, :w], site_black, white)
    out = np.empty((9, h // 3, w // 3), dtype=np.float32)
    for channel, oy, ox, y, x in _XTRANS_TILE_SITES:
        out[channel, oy::2, ox::2] = image[y::6, x::6]
    for channel, y, x in _XTRANS_CELL_SITES:
        out[channel] = image[y::3, x::3]
    return out


def pack_raw(raw: rawpy.RawPy, black: float | None = None, white: float | None = None) -> np.ndarray:
    """`pack_bayer` or `pack_xtrans`, chosen by the file's CFA size."""
    if raw.raw_pattern is None:
        raise ValueError(
            "no colour filter array (a linear or Foveon RAW): only Bayer and X-Trans mosaics can be packed"
        )
    packers = {(2, 2): pack_bayer, (6, 6): pack_xtrans}
    size = np.asarray(raw.raw_pattern).shape
    if size not in packers:
        raise ValueError(f"unsupported {size[0]}×{size[1]} CFA: only 2×2 Bayer and 6×6 X-Trans mosaics can be packed")
    return packers[size](raw, black=black, white=white)


def load_packed(path: str | os.PathLike, black: float | None = None, white: float | None = None) -> np.ndarray:
    """A RAW file packed by `pack_raw` (C×h×w float32 in [0, 1]) with the file's or the given levels.

    Errors name the file: a rawpy object does not know its path, so the packers cannot.
    """
    with read_raw(path) as raw:
        try:
            return pack_raw(raw, black=black, white=white)
        except ValueError as error:
            raise ValueError(f"cannot pack RAW file {path}: {error}") from error


def postprocess_ground_truth(raw_path: str | os.PathLike) -> np.ndarray:
    """The SID ground truth: LibRaw's development with camera white balance, H×W×3 uint16, no auto brightening."""
    with read_raw(raw_path) as raw:
        rawpy = _import_rawpy()  # for its error type; read_raw has imported it already
        try:
            return raw.postprocess(use_camera_wb=True, half_size=False, no_auto_bright=True, output_bps=16)
        except rawpy.LibRawError as error:
            raise RawFileError(f"cannot develop RAW file {raw_path}: {error}") from error


def _mosaic_and_levels(
    raw: rawpy.RawPy | np.ndarray,
    pattern: str | np.ndarray | None,
    black: float | np.ndarray | None,
    white: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mosaic, CFA codes 0/1/2, black level per CFA site, white level), the file's unless overridden."""
    if isinstance(raw, np.ndarray):
        if pattern is None or black is None or white is None:
            raise ValueError("packing a bare array needs its pattern, black and white levels")
        codes = cfa_array(pattern)
        return raw, codes, np.broadcast_to(np.asarray(black, dtype=np.float32), codes.shape), float(white)

    indices = np.asarray(raw.raw_pattern)
    desc = raw.color_desc.decode()
    letters = np.array([desc[i] for i in indices.ravel()]).reshape(indices.shape)
    if set(letters.ravel()) - set("RGB"):
        raise ValueError(f"unsupported CFA colours {desc!r}: only R/G/B mosaics can be packed")
    codes = cfa_array(pattern) if pattern is not None else np.vectorize({"R": 0, "G": 1, "B": 2}.get)(letters)
    # rawpy gives black per colour index; map it onto the sites of the CFA tile.
    file_black = np.asarray(raw.black_level_per_channel, dtype=np.float32)[indices]
    site_black = file_black if black is None else np.broadcast_to(np.float32(black), indices.shape)
    return raw.raw_image_visible, codes.astype(np.uint8), site_black, float(raw.white_level if white is None else white)


def _normalise(mosaic: np.ndarray, site_black: np.ndarray, white: float) -> np.ndarray:
    """(x - black)+ / (white - black), with the black of each CFA site tiled over the mosaic."""
    th, tw = site_black.shape
    h, w = mosaic.shape
    black = np.tile(site_black, (h // th + 1, w // tw + 1))[:h, :w]
    # As the official code: values below black (read noise) are clipped, and each site keeps its own range.
    return (np.maximum(mosaic.astype(np.float32) - black, 0.0) / (np.float32(white) - black)).astype(np.float32)
