from pathlib import Path

import numpy as np
import pytest
import torch

from lle.data.samplers import TrainingKey
from lle.data.sid import SIDDataset, prepare_sid
from lle.data.synthetic import write_mini_sid_tree


@pytest.fixture(scope="module")
def sony_lists(tmp_path_factory) -> dict[str, Path]:
    return write_mini_sid_tree(tmp_path_factory.mktemp("sid"), n_scenes=3, camera="Sony", size=(64, 96), seed=2)


@pytest.fixture(scope="module")
def fuji_lists(tmp_path_factory) -> dict[str, Path]:
    return write_mini_sid_tree(tmp_path_factory.mktemp("sid"), n_scenes=1, camera="Fuji", size=(516, 516))


def dihedral_views(image: torch.Tensor):
    """The 8 results of flip H / flip W / transpose on a C×H×W tensor, with their flags."""
    for flip_h in (0, 1):
        for flip_w in (0, 1):
            for transpose in (0, 1):
                view = image.flip(-2) if flip_h else image
                view = view.flip(-1) if flip_w else view
                yield (flip_h, flip_w, transpose), (view.transpose(-1, -2) if transpose else view)


def locate(patch: torch.Tensor, full: torch.Tensor) -> list[tuple[int, int]]:
    """Every (y, x) where `patch` is a crop of `full`; candidates are the places of its first value."""
    p, (h, w) = patch.shape[-1], full.shape[-2:]
    ys, xs = torch.nonzero(full[0, : h - p + 1, : w - p + 1] == patch[0, 0, 0], as_tuple=True)
    return [(y, x) for y, x in zip(ys.tolist(), xs.tolist()) if torch.equal(full[:, y : y + p, x : x + p], patch)]


def assert_crops_aligned(list_file: Path, patch: int, scale: int, epochs: int, **dataset_args) -> None:
    """Each training patch is a crop of the whole input and its target the ×scale crop at the same place,
    both under the same flips/transpose; and the augmentation varies."""
    whole = SIDDataset(list_file, crop_size=None, augment=False, **dataset_args)[0]
    dataset = SIDDataset(list_file, crop_size=patch, **dataset_args)
    seen = set()
    for epoch in range(epochs):
        item = dataset[TrainingKey(epoch, 0, 0)]
        matches = []
        for flags, view in dihedral_views(whole["input"]):
            # Undo the augmentation on the patch by applying the same transform to the whole input.
            for y, x in locate(item["input"], view):
                matches.append((flags, y, x))
        assert matches, "the input patch is no crop of the whole input"
        target_views = dict(dihedral_views(whole["target"]))
        assert any(
            torch.equal(
                target_views[flags][:, scale * y : scale * (y + patch), scale * x : scale * (x + patch)], item["target"]
            )
            for flags, y, x in matches
        ), f"the target patch is not the ×{scale} crop at the same place"
        seen.add(matches[0][0])
    assert len(seen) > 1  # the augmentation does vary


def test_items_follow_the_official_recipe(sony_lists):
    dataset = SIDDataset(sony_lists["train"], crop_size=16)
    assert len(dataset) == 3
    item = dataset[TrainingKey(0, 1, 1)]
    assert item["input"].shape == (4, 16, 16) and item["target"].shape == (3, 32, 32)
    assert item["input"].dtype == item["target"].dtype == torch.float32
    assert item["input"].max() <= 1.0 and item["input"].min() >= 0.0
    assert item["name"] == "00001_00_0.04s" and item["ratio"] == 250.0
    assert {dataset[i]["ratio"] for i in range(3)} == {100.0, 250.0, 300.0}


def test_crops_are_aligned_and_transformed_together(sony_lists):
    whole = SIDDataset(sony_lists["train"], crop_size=None, augment=False)[0]
    assert whole["input"].shape == (4, 32, 48) and whole["target"].shape == (3, 64, 96)
    assert_crops_aligned(sony_lists["train"], patch=12, scale=2, epochs=6)


def test_items_are_reproducible(sony_lists):
    dataset = SIDDataset(sony_lists["train"], crop_size=16, seed=3)
    assert torch.equal(dataset[TrainingKey(2, 0, 0)]["input"], dataset[TrainingKey(2, 0, 0)]["input"])
    assert torch.equal(dataset[1]["target"], dataset[1]["target"])
    assert not torch.equal(dataset[TrainingKey(2, 0, 0)]["input"], dataset[TrainingKey(3, 0, 0)]["input"])


def test_prepared_cache_matches_decoding_and_resumes(sony_lists, tmp_path):
    lists = [sony_lists["train"], sony_lists["val"]]
    written = prepare_sid(lists, tmp_path / "cache")
    assert len(written) == 2 * (1 + 3)  # per scene: one ground truth, three inputs
    assert all(p.suffix == ".npy" and np.load(p).dtype == np.uint16 for p in written)
    (tmp_path / "cache/Sony/long/00001_00_10s.npy.partial").write_bytes(b"interrupted")
    assert prepare_sid(lists, tmp_path / "cache") == []
    written[0].unlink()
    assert prepare_sid(lists, tmp_path / "cache") == [written[0]]

    decoded = SIDDataset(sony_lists["train"], crop_size=16)
    cached = SIDDataset(sony_lists["train"], crop_size=16, cache_dir=tmp_path / "cache")
    for key in [TrainingKey(0, 0, 0), TrainingKey(1, 2, 2), 1]:
        a, b = decoded[key], cached[key]
        assert torch.equal(a["target"], b["target"])
        # uint16 storage rounds the packed value by ≤ 0.5/65535 before the ×ratio.
        torch.testing.assert_close(a["input"], b["input"], atol=300 * 0.5 / 65535 + 1e-6, rtol=0)


def test_missing_cache_and_empty_selection_are_explained(sony_lists, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)4 file\(s\).*lle-prepare-sid .*--out .*nothing.*line 1: "):
        SIDDataset(sony_lists["test"], crop_size=8, cache_dir=tmp_path / "nothing")
    with pytest.raises(ValueError, match="no pairs"):
        SIDDataset(sony_lists["test"], exclude_scenes=[10001])
    with pytest.raises(ValueError, match="crop_size"):
        SIDDataset(sony_lists["test"], crop_size=64)[0]


def test_fuji_items_are_cropped_at_three_times_and_aligned(fuji_lists, tmp_path):
    levels = {"black": 1024, "white": 16383}
    item = SIDDataset(fuji_lists["train"], crop_size=20, **levels)[TrainingKey(0, 0, 0)]
    assert item["input"].shape == (9, 20, 20) and item["target"].shape == (3, 60, 60)
    # Through the cache: the ground truth is developed once rather than at every access.
    prepare_sid([fuji_lists["train"]], tmp_path / "cache", **levels)
    assert_crops_aligned(fuji_lists["train"], patch=20, scale=3, epochs=4, cache_dir=tmp_path / "cache", **levels)


def test_the_cache_records_its_levels_and_refuses_others(sony_lists, tmp_path):
    sony = {"black": 512, "white": 16383}
    prepare_sid([sony_lists["val"]], tmp_path / "cache", **sony)
    with pytest.raises(ValueError, match=r"black=512, white=16383, not black=from each file.*--black/--white"):
        prepare_sid([sony_lists["val"]], tmp_path / "cache")
    assert SIDDataset(sony_lists["val"], crop_size=8, cache_dir=tmp_path / "cache", **sony)[0]
    with pytest.raises(ValueError, match=r"black=512.*data\.black/data\.white ask for black=1024"):
        SIDDataset(sony_lists["val"], cache_dir=tmp_path / "cache", black=1024, white=16383)
    # Ground truths only: any levels, the inputs are decoded from the RAW files.
    prepare_sid([sony_lists["val"]], tmp_path / "targets", inputs=False)
    decoded = SIDDataset(sony_lists["val"], crop_size=8, black=1024, white=16383)[TrainingKey(0, 1, 1)]
    half_cached = SIDDataset(sony_lists["val"], crop_size=8, black=1024, white=16383, cache_dir=tmp_path / "targets")
    assert not half_cached.inputs_cached
    for key in ("input", "target"):
        assert torch.equal(half_cached[TrainingKey(0, 1, 1)][key], decoded[key])


def test_input_clipping_is_an_option(sony_lists):
    clipped, unclipped = (
        SIDDataset(sony_lists["train"], crop_size=None, augment=False, clip_input=clip)[2] for clip in (True, False)
    )  # the ×300 pair, whose noise exceeds 1 after amplification
    assert clipped["input"].max() == 1.0 and unclipped["input"].max() > 1.0  # ALEN keeps values above 1
    assert torch.equal(clipped["input"], unclipped["input"].clamp(max=1.0))


def test_per_scene_sampling_draws_one_short_exposure_per_ground_truth(sony_lists):
    per_scene = SIDDataset(sony_lists["train"], crop_size=8, sample="per_scene")
    assert len(per_scene) == 1 and len(SIDDataset(sony_lists["train"], crop_size=8)) == 3
    assert {per_scene[TrainingKey(epoch, 0, 0)]["ratio"] for epoch in range(12)} == {100.0, 250.0, 300.0}
    assert per_scene[TrainingKey(5, 0, 0)]["name"] == per_scene[TrainingKey(5, 0, 0)]["name"]
    with pytest.raises(ValueError, match="per_scene"):
        SIDDataset(sony_lists["train"], sample="per_image")
