from pathlib import Path

import numpy as np
import pytest
import torch

from lle.data.sid import SIDDataset, prepare_sid
from lle.data.synthetic import write_mini_sid_tree


@pytest.fixture(scope="module")
def sony_lists(tmp_path_factory) -> dict[str, Path]:
    return write_mini_sid_tree(tmp_path_factory.mktemp("sid"), n_scenes=3, camera="Sony", size=(64, 96), seed=2)


def dihedral_views(image: torch.Tensor):
    """The 8 results of flip H / flip W / transpose on a C×H×W tensor, with their flags."""
    for flip_h in (0, 1):
        for flip_w in (0, 1):
            for transpose in (0, 1):
                view = image.flip(-2) if flip_h else image
                view = view.flip(-1) if flip_w else view
                yield (flip_h, flip_w, transpose), (view.transpose(-1, -2) if transpose else view)


def locate(patch: torch.Tensor, full: torch.Tensor) -> list[tuple[int, int]]:
    p, (h, w) = patch.shape[-1], full.shape[-2:]
    return [(y, x) for y in range(h - p + 1) for x in range(w - p + 1)
            if torch.equal(full[:, y:y + p, x:x + p], patch)]


def test_items_follow_the_official_recipe(sony_lists):
    dataset = SIDDataset(sony_lists["train"], patch_size=16)
    assert len(dataset) == 3
    item = dataset[(0, 1)]
    assert item["input"].shape == (4, 16, 16) and item["target"].shape == (3, 32, 32)
    assert item["input"].dtype == item["target"].dtype == torch.float32
    assert item["input"].max() <= 1.0 and item["input"].min() >= 0.0
    assert item["name"] == "00001_00_0.04s" and item["ratio"] == 250.0
    assert {dataset[i]["ratio"] for i in range(3)} == {100.0, 250.0, 300.0}


def test_crops_are_aligned_and_transformed_together(sony_lists):
    whole = SIDDataset(sony_lists["train"], patch_size=None, augment=False)[0]
    assert whole["input"].shape == (4, 32, 48) and whole["target"].shape == (3, 64, 96)
    dataset = SIDDataset(sony_lists["train"], patch_size=12)
    seen = set()
    for epoch in range(6):
        item = dataset[(epoch, 0)]
        matches = []
        for flags, view in dihedral_views(whole["input"]):
            # Undo the augmentation on the patch by applying the same transform to the whole input.
            for y, x in locate(item["input"], view):
                matches.append((flags, y, x))
        assert matches, "the input patch is no crop of the whole input"
        ok = False
        for flags, y, x in matches:
            target_view = dict(dihedral_views(whole["target"]))[flags]
            ok |= torch.equal(target_view[:, 2 * y:2 * y + 24, 2 * x:2 * x + 24], item["target"])
        assert ok, "the target patch is not the ×2 crop at the same place"
        seen.add(matches[0][0])
    assert len(seen) > 1  # the augmentation does vary


def test_items_are_reproducible(sony_lists):
    dataset = SIDDataset(sony_lists["train"], patch_size=16, seed=3)
    assert torch.equal(dataset[(2, 0)]["input"], dataset[(2, 0)]["input"])
    assert torch.equal(dataset[1]["target"], dataset[1]["target"])
    assert not torch.equal(dataset[(2, 0)]["input"], dataset[(3, 0)]["input"])


def test_prepared_cache_matches_decoding_and_resumes(sony_lists, tmp_path):
    lists = [sony_lists["train"], sony_lists["val"]]
    written = prepare_sid(lists, tmp_path / "cache")
    assert len(written) == 2 * (1 + 3)  # per scene: one ground truth, three inputs
    assert all(p.suffix == ".npy" and np.load(p).dtype == np.uint16 for p in written)
    (tmp_path / "cache/Sony/long/00001_00_10s.npy.partial").write_bytes(b"interrupted")
    assert prepare_sid(lists, tmp_path / "cache") == []
    written[0].unlink()
    assert prepare_sid(lists, tmp_path / "cache") == [written[0]]

    decoded = SIDDataset(sony_lists["train"], patch_size=16)
    cached = SIDDataset(sony_lists["train"], patch_size=16, cache_dir=tmp_path / "cache")
    for key in [(0, 0), (1, 2), 1]:
        a, b = decoded[key], cached[key]
        assert torch.equal(a["target"], b["target"])
        # uint16 storage rounds the packed value by ≤ 0.5/65535 before the ×ratio.
        torch.testing.assert_close(a["input"], b["input"], atol=300 * 0.5 / 65535 + 1e-6, rtol=0)


def test_missing_cache_and_empty_selection_are_explained(sony_lists, tmp_path):
    dataset = SIDDataset(sony_lists["test"], patch_size=8, cache_dir=tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="prepare_sid"):
        dataset[0]
    with pytest.raises(ValueError, match="no pairs"):
        SIDDataset(sony_lists["test"], exclude_scenes=[10001])
    with pytest.raises(ValueError, match="patch_size"):
        SIDDataset(sony_lists["test"], patch_size=64)[0]


def test_fuji_items_are_cropped_at_three_times(tmp_path):
    lists = write_mini_sid_tree(tmp_path, n_scenes=1, camera="Fuji", size=(516, 516))
    item = SIDDataset(lists["train"], patch_size=20, black=1024, white=16383)[(0, 0)]
    assert item["input"].shape == (9, 20, 20) and item["target"].shape == (3, 60, 60)
