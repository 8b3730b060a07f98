"""Finding low/normal-light image pairs on disk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lle.data.io import IMAGE_SUFFIXES


@dataclass(frozen=True)
class ImagePair:
    low: Path
    high: Path
    name: str


class PairingError(ValueError):
    """Folders whose files cannot be paired one to one; the message lists the offending files."""


_TRAILING_ID = re.compile(r"(\d+)$")


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise PairingError(f"image folder {folder} contains no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _pair_key(path: Path, by_id: bool) -> str:
    if by_id:
        return str(int(_TRAILING_ID.search(path.stem).group(1)))
    return path.stem


def pair_folders(low_dir: str | Path, high_dir: str | Path) -> list[ImagePair]:
    """Pair the images of two folders.

    Files are paired by the integer at the end of their stem when every file has one (LOL-v2-real names
    `low00001.png` / `normal00001.png`; leading zeros do not matter), else by identical stems. Listing
    order is never used: it silently mispairs folders with missing files.
    """
    low_files, high_files = list_images(Path(low_dir)), list_images(Path(high_dir))
    by_id = all(_TRAILING_ID.search(p.stem) for p in low_files + high_files)
    low, high = {}, {}
    for files, table, folder in ((low_files, low, low_dir), (high_files, high, high_dir)):
        for p in files:
            key = _pair_key(p, by_id)
            if key in table:
                raise PairingError(f"{folder}: {table[key].name} and {p.name} have the same pairing key {key!r}")
            table[key] = p
    unpaired_low = sorted(p.name for k, p in low.items() if k not in high)
    unpaired_high = sorted(p.name for k, p in high.items() if k not in low)
    if unpaired_low or unpaired_high:
        lines = [f"cannot pair {low_dir} with {high_dir} (pairing by {'numeric id' if by_id else 'file name'}):"]
        if unpaired_low:
            lines.append(f"  low images without a partner: {', '.join(unpaired_low)}")
        if unpaired_high:
            lines.append(f"  normal-light images without a partner: {', '.join(unpaired_high)}")
        raise PairingError("\n".join(lines))
    keys = sorted(low, key=lambda k: (int(k), k) if by_id else (0, k))
    return [ImagePair(low[k], high[k], low[k].stem) for k in keys]
