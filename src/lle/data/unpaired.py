"""Unpaired test sets: a folder of low-light photographs without references (DICM, LIME, MEF, NPE, VV, your own).

Evaluation only (`lle-eval data=unpaired data.root=…`): items are `{"input", "name"}` without a target, so the
module scores the outputs with no-reference metrics (NIQE) only. docs/metrics.md lists how the five common sets
are distributed and which presets read them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset

from lle.data.base import EnhancementDataModule
from lle.data.io import IMAGE_SUFFIXES, read_image, to_float_tensor
from lle.data.paired import _center_crop


def find_images(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files in `folder` (and its subfolders when `recursive`), sorted, hidden files skipped."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in candidates
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def image_names(folder: Path, files: Sequence[Path]) -> list[str]:
    """A name per file, unique and usable as a file name: the path below `folder` without its suffix, with
    `/` as `__` (so saved outputs of nested folders land side by side)."""
    names: dict[str, Path] = {}
    for path in files:
        name = "__".join(path.relative_to(folder).with_suffix("").parts)
        if name in names:
            raise ValueError(f"{names[name]} and {path} would both be named {name!r}: rename one of them")
        names[name] = path
    return list(names)


class UnpairedImageDataset(Dataset):
    """Low-light images read on demand (unpaired sets hold multi-megapixel photographs); whole images, or their
    center `eval_crop_size` crop."""

    def __init__(self, files: Sequence[Path], names: Sequence[str], eval_crop_size: int | None = None):
        self.files, self.names, self.eval_crop_size = list(files), list(names), eval_crop_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        image = read_image(self.files[index])
        if self.eval_crop_size:
            if min(image.shape[:2]) < self.eval_crop_size:
                raise ValueError(
                    f"{self.files[index]} is {image.shape[1]}x{image.shape[0]}, smaller than "
                    f"data.eval_crop_size={self.eval_crop_size}"
                )
            image = _center_crop(image, self.eval_crop_size)
        return {"input": to_float_tensor(image), "name": self.names[index]}


class UnpairedImageDataModule(EnhancementDataModule):
    """The test split is every image under `root` (only its own files, or every subfolder's with `recursive`).

    Args:
        root: the folder; with `layouts`, the folder that holds one of them (the first that exists is used,
            so `data=dicm data.root=…` accepts the set's own folder or the folder above it).
        layouts: sub-folders of `root` to try, in order ("." is root itself).
        recursive: also take the images of sub-folders (named `sub__file`).
        eval_crop_size: None evaluates whole images (the protocol); an int the center crop of each.
    """

    paired = False

    def __init__(
        self,
        root: str | None = None,
        layouts: Sequence[str] | None = None,
        recursive: bool = False,
        name: str = "unpaired",
        eval_crop_size: int | None = None,
        **loader_args,
    ):
        super().__init__(**loader_args)
        if root is None:
            raise ValueError("data=unpaired needs data.root=<folder of low-light images>")
        self.name, self.recursive, self.eval_crop_size = name, recursive, eval_crop_size
        self.skipped: list[str] = []  # images of the folder that could not be read (`readable_images`)
        self.folder = self._resolve(Path(str(root)).expanduser(), list(layouts or ["."]))

    def _resolve(self, root: Path, layouts: list[str]) -> Path:
        tried = []
        for layout in layouts:
            folder = (root / layout).resolve() if layout != "." else root
            tried.append(str(folder))
            if folder.is_dir() and find_images(folder, self.recursive):
                return folder
        hint = "" if self.recursive else " (data.recursive=true also takes sub-folders)"
        raise FileNotFoundError(
            f"data.root={root}: no images ({', '.join(IMAGE_SUFFIXES)}) in {' or '.join(tried)}{hint}"
        )

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", "validate"):
            raise ValueError(
                f"data={self.name} has no references and no training split: it is for lle-eval (test) only"
            )
        if self.test_set is None:
            files, self.skipped = readable_images(find_images(self.folder, self.recursive))
            if not files:
                raise ValueError(f"data.root={self.folder}: none of its images can be read ({self.skipped[0]})")
            self.test_set = UnpairedImageDataset(files, image_names(self.folder, files), self.eval_crop_size)

    def describe(self) -> dict:
        skipped = {"skipped": self.skipped} if self.skipped else {}
        return {**super().describe(), "paired": False, "root": str(self.folder), **skipped}


def readable_images(files: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """(the files whose image header reads, "<file>: <why>" for each other one, also logged as a warning): one
    unreadable photograph in a folder of hundreds is named and left out, as `lle-enhance` does, instead of
    stopping the evaluation inside a loader worker."""
    from PIL import Image

    readable, skipped = [], []
    for path in files:
        try:
            with Image.open(path) as image:
                image.verify()  # the header and the file's structure, without decoding every pixel
            readable.append(path)
        except Exception as err:  # noqa: BLE001 — whatever PIL says of a file that is not an image: named below
            skipped.append(f"{path}: {type(err).__name__}: {err}")
    for reason in skipped:
        warnings.warn(f"skipped an unreadable image: {reason}", stacklevel=2)
    return readable, skipped
