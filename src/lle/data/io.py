"""Reading and writing images with clear errors.

Every reader returns H×W×3 `uint8` or `uint16` arrays: grayscale is replicated to three channels,
palette images are expanded, alpha is dropped, and 16-bit files keep their 16 bits (Pillow would
silently truncate 16-bit colour PNGs to 8 bits, so those go through pypng).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lle.atomic import write_atomic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class ImageReadError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


def _png_is_16bit_colour(path: Path) -> bool:
    with open(path, "rb") as f:
        header = f.read(26)
    # 8-byte signature, IHDR length + type, width, height, bit depth (byte 24), colour type (byte 25).
    return len(header) == 26 and header[24] == 16 and header[25] in (2, 6)


def _read_png16(path: Path) -> np.ndarray:
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    return np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])


def _read_with_pillow(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.load()
        # A camera or phone stores a portrait shot as landscape pixels and an EXIF orientation tag: upright, as every
        # viewer shows it (paired images carry the same tag, so both turn alike).
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            return np.asarray(im).astype(np.uint16)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")  # palette, RGBA, LA, CMYK, …
        return np.asarray(im)


def _as_three_channels(image: np.ndarray, path: Path) -> np.ndarray:
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(f"{path}: expected a grayscale or RGB(A) image, got an array of shape {image.shape}")
    if image.shape[2] in (1, 2):  # gray or gray+alpha
        image = np.repeat(image[..., :1], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to H×W×3 uint8/uint16, or raise `ImageReadError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such image file")
    try:
        suffix = path.suffix.lower()
        if suffix in (".tif", ".tiff"):
            image = _read_tiff(path)
        elif suffix == ".png" and _png_is_16bit_colour(path):
            image = _read_png16(path)
        else:
            image = _read_with_pillow(path)
    except (ImageReadError, ImportError):  # a missing decoder is the installation's fault, not the file's
        raise
    except Exception as err:  # decoders raise many types: OSError, SyntaxError, ValueError, png.FormatError…
        raise ImageReadError(f"{path}: cannot decode image ({type(err).__name__}: {err})") from err
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: expected 8- or 16-bit integer pixels, got {image.dtype}")
    return _as_three_channels(image, path)


def _read_tiff(path: Path) -> np.ndarray:
    """The first image of a TIFF, samples last (planar RGB files store them first)."""
    try:  # only TIFF files need it
        import tifffile
    except ImportError as error:
        raise ImportError("TIFF images need tifffile: pip install tifffile") from error

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        image, axes = series.asarray(), series.axes
    if axes.startswith("S") and image.ndim == 3:  # planar configuration: S×Y×X
        image = np.moveaxis(image, 0, -1)
    return image


def to_float_tensor(image: np.ndarray) -> torch.Tensor:
    """H×W×C uint8/uint16 → C×H×W float32 in [0, 1]."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(scale)


def write_image(path: str | Path, image: torch.Tensor | np.ndarray, bits: int = 8, replace: bool = True) -> None:
    """Write a C×H×W float tensor in [0, 1] (or an H×W×3 integer array) as an 8- or 16-bit PNG.

    Written through `lle.atomic`, so an interrupted run never leaves a truncated file; with `replace=False`,
    `FileExistsError` where another process wrote `path` meanwhile (nothing is replaced).
    """
    path = Path(path)
    if isinstance(image, torch.Tensor):
        array = image.detach().float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
        maximum = 65535 if bits == 16 else 255
        image = np.round(array * maximum).astype(np.uint16 if bits == 16 else np.uint8)
    if image.dtype == np.uint16:
        import png

        h, w, c = image.shape
        writer = png.Writer(w, h, greyscale=False, alpha=False, bitdepth=16)
        write_atomic(path, lambda handle: writer.write(handle, image.reshape(h, w * c)), replace)
    else:
        from PIL import Image

        write_atomic(path, lambda handle: Image.fromarray(image).save(handle, format="PNG"), replace)
