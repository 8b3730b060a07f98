import numpy as np
import pytest
import torch

from conftest import make_pair, write_lol_tree, write_png
from lle.data.paired import PairedImageDataModule, PairedImageDataset
from lle.data.pairing import PairingError, pair_folders
from lle.data.samplers import TrainingKey

LOL_LAYOUTS = [
    {"train_low": "our485/low", "train_high": "our485/high", "test_low": "eval15/low", "test_high": "eval15/high"},
    {"train_low": "Train/input", "train_high": "Train/target", "test_low": "Test/input", "test_high": "Test/target"},
]


@pytest.mark.parametrize("layout", ["lol_v1", "retinexformer"])
def test_lol_layouts_and_validation_carved_from_training(tmp_path, layout):
    root = write_lol_tree(tmp_path / "lol", n_train=8, n_test=3, layout=layout)
    dm = PairedImageDataModule(root=str(root), layouts=LOL_LAYOUTS, num_val=2, crop_size=32, batch_size=2)
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (6, 2, 3)
    train_names = {p.name for p in dm.train_set.pairs}
    assert not train_names & {p.name for p in dm.val_set.pairs}
    assert {p.name for p in dm.test_set.pairs} == {"500", "501", "502"}
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape == (2, 3, 32, 32) and batch["target"].shape == (2, 3, 32, 32)
    assert batch["input"].mean() < batch["target"].mean()


def test_lol_v2_real_pairs_by_numeric_id(tmp_path):
    root = write_lol_tree(tmp_path / "v2", n_train=4, n_test=2, layout="lol_v2_real")
    pairs = pair_folders(root / "Train/Low", root / "Train/Normal")
    assert [(p.low.name, p.high.name) for p in pairs][:2] == [
        ("low00001.png", "normal00001.png"),
        ("low00002.png", "normal00002.png"),
    ]


def test_crops_and_flips_are_identical_for_both_images(tmp_path):
    rng = np.random.default_rng(0)
    high = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    low = high // 4  # a pixel-wise relation survives only if both images get the same crop and flip
    write_png(tmp_path / "low" / "1.png", low)
    write_png(tmp_path / "high" / "1.png", high)
    ds = PairedImageDataset(pair_folders(tmp_path / "low", tmp_path / "high"), crop_size=16, seed=3)
    seen = set()
    for epoch in range(12):
        item = ds[TrainingKey(epoch, 0, 0)]
        assert item["input"].shape == (3, 16, 16)
        expected = torch.div(torch.round(item["target"] * 255), 4, rounding_mode="floor") / 255
        assert torch.allclose(item["input"], expected, atol=1e-6)
        seen.add(tuple(item["input"].flatten()[:4].tolist()))
    assert len(seen) > 1  # crops vary across epochs
    # and are a function of (seed, epoch, draw)
    assert torch.equal(ds[TrainingKey(5, 0, 0)]["input"], ds[TrainingKey(5, 0, 0)]["input"])


def test_unpaired_files_are_listed_by_name(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("1.png", "2.png", "3.png"):
        write_png(tmp_path / "low" / name, make_pair(rng, 8, 8)[0])
    for name in ("1.png", "2.png", "7.png"):
        write_png(tmp_path / "high" / name, make_pair(rng, 8, 8)[1])
    with pytest.raises(PairingError) as err:
        pair_folders(tmp_path / "low", tmp_path / "high")
    assert "3.png" in str(err.value) and "7.png" in str(err.value)


def test_size_mismatch_names_both_files(tmp_path):
    write_png(tmp_path / "low" / "1.png", np.zeros((20, 30, 3), np.uint8))
    write_png(tmp_path / "high" / "1.png", np.zeros((20, 31, 3), np.uint8))
    with pytest.raises(ValueError, match=r"size mismatch.*low.*1\.png.*30x20.*high.*1\.png.*31x20"):
        PairedImageDataset(pair_folders(tmp_path / "low", tmp_path / "high"))


def test_image_smaller_than_crop_is_an_error(tmp_path):
    write_png(tmp_path / "low" / "1.png", np.zeros((20, 30, 3), np.uint8))
    write_png(tmp_path / "high" / "1.png", np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(ValueError, match=r"1\.png is 30x20, smaller than data\.crop_size=32"):
        PairedImageDataset(pair_folders(tmp_path / "low", tmp_path / "high"), crop_size=32)


def test_missing_root_prints_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        PairedImageDataModule(root=str(tmp_path / "nowhere"), layouts=LOL_LAYOUTS)
    assert "our485/low" in str(err.value) and "Train/input" in str(err.value)


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "low").mkdir()
    (tmp_path / "high").mkdir()
    with pytest.raises(PairingError, match="contains no images"):
        pair_folders(tmp_path / "low", tmp_path / "high")


def test_enlarge_ratio_makes_longer_epochs(lol_root):
    dm = PairedImageDataModule(
        root=str(lol_root), layouts=LOL_LAYOUTS, num_val=2, crop_size=16, batch_size=2, dataset_enlarge_ratio=3
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader) == 6 * 3 // 2
    crops = [crop for batch in loader for crop in batch["input"]]  # each pair read three times, cropped anew
    assert len({tuple(crop.flatten().tolist()) for crop in crops}) == len(crops) == 18


def test_eval_crop_size_takes_the_center_of_each_evaluation_pair(lol_root):
    dm = PairedImageDataModule(
        root=str(lol_root), layouts=LOL_LAYOUTS, num_val=2, crop_size=16, eval_crop_size=20, batch_size=2
    )
    dm.setup("fit")
    dm.setup("test")
    whole = PairedImageDataset(dm.test_set.pairs)[0]  # 48×64
    item = dm.test_set[0]
    assert item["input"].shape == item["target"].shape == (3, 20, 20)
    assert torch.equal(item["input"], whole["input"][:, 14:34, 22:42])
    assert torch.equal(item["target"], whole["target"][:, 14:34, 22:42])
    assert dm.val_set[1]["input"].shape == (3, 20, 20)
    assert dm.train_set[TrainingKey(0, 0, 0)]["input"].shape == (3, 16, 16)  # training crops keep crop_size
    with pytest.raises(ValueError, match=r"smaller than data\.eval_crop_size=64"):
        PairedImageDataset(dm.test_set.pairs, eval_crop_size=64)


def test_renamed_crop_options_name_their_new_names(lol_root):
    with pytest.raises(TypeError, match=r"data\.eval_crop \(now data\.eval_crop_size\)"):
        PairedImageDataModule(root=str(lol_root), layouts=LOL_LAYOUTS, eval_crop=32)
    with pytest.raises(TypeError, match=r"data\.patch_size \(now data\.crop_size\).*data\.frobnicate$"):
        PairedImageDataModule(root=str(lol_root), layouts=LOL_LAYOUTS, patch_size=32, frobnicate=1)


def test_an_unknown_input_kind_names_the_known_ones(lol_root):
    with pytest.raises(ValueError, match=r"data\.input_kind must be one of srgb, raw_bayer, raw_xtrans, got 'rgb'"):
        PairedImageDataModule(root=str(lol_root), layouts=LOL_LAYOUTS, input_kind="rgb")


def test_evaluation_batches_of_images_of_different_sizes_name_them_and_the_option(tmp_path):
    from lle.data.base import collate_same_size

    items = [
        {"input": torch.zeros(3, 20, 30), "target": torch.zeros(3, 20, 30), "name": "1"},
        {"input": torch.zeros(3, 24, 30), "target": torch.zeros(3, 24, 30), "name": "2"},
    ]
    with pytest.raises(ValueError, match=r"different sizes \(1 \(20, 30\), 2 \(24, 30\)\).*eval_batch_size=1"):
        collate_same_size(items)
    assert collate_same_size(items[:1])["input"].shape == (1, 3, 20, 30)
