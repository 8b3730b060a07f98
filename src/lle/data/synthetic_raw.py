"""The embedded RAW default data: a miniature SID tree of real DNG files, written once, read like real SID.

The tree is written from the photographs that ship with scikit-image (`lle.data.synthetic.write_mini_sid_tree`:
unprocessing, mosaic, exposure ratios 100/250/300, large-sensor noise) and then read through exactly the same
rawpy path as real ARW/RAF files, by `SIDDataModule`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from lle.data.sid import SIDDataModule


class SyntheticRawDataModule(SIDDataModule):
    """`SIDDataModule` on a tree it writes under `root` first (unless it is there).

    Args:
        num_scenes: scenes, cycling through train, test and val; each has three short exposures.
        image_size: (H, W) of the mosaics; a Fuji tree needs ≥ 516, multiples of 6 (LibRaw's X-Trans demosaic).
        sid_args: those of `SIDDataModule` (`crop_size`, `eval_crop_size`, levels, loader options).
    """

    def __init__(
        self,
        root: str,
        num_scenes: int = 12,
        image_size: tuple[int, int] = (256, 384),
        camera: str = "Sony",
        name: str = "synthetic_raw",
        **sid_args,
    ):
        super().__init__(root=root, camera=camera, name=name, **sid_args)
        self.num_scenes, self.image_size = num_scenes, tuple(image_size)

    def prepare_data(self) -> None:
        """Writes the tree unless it is there. Safe on every DDP rank at once: each rank writes a private copy
        and moves its files in by atomic renames, list files last, so a reader never sees a partial file and
        the list files exist only once everything they name does."""
        from lle.data.synthetic import write_mini_sid_tree

        if self._tree_is_written():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.", suffix=".partial", dir=self.root.parent))
        try:
            write_mini_sid_tree(
                staging, n_scenes=self.num_scenes, camera=self.camera, size=self.image_size, seed=self.seed
            )
            _move_tree(staging, self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _tree_is_written(self) -> bool:
        return all((self.root / f"{self.camera}_{split}_list.txt").is_file() for split in ("train", "val", "test"))

    def setup(self, stage: str | None = None) -> None:
        self.prepare_data()  # also when used outside a Trainer
        super().setup(stage)


def _move_tree(source: Path, destination: Path) -> None:
    """Renames every file of `source` into `destination`, `.txt` lists last; existing files are kept, as
    only whole files are ever renamed into place (another rank's copy of the same seed is identical).

    `write_mini_sid_tree` wrote each file through `lle.atomic`, so each is already on disk: this only moves
    finished files, within one file system (the staging folder is a sibling of `destination`).
    """
    files = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: (p.suffix == ".txt", str(p)))
    for file in files:
        target = destination / file.relative_to(source)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file, target)
