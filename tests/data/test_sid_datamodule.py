"""The SID DataModule on a miniature tree of real DNG files, read through rawpy like real ARW/RAF files."""

import pytest

from lle.data.sid import SIDDataModule
from lle.data.synthetic import write_mini_sid_tree


def test_sid_splits_batches_and_levels_from_the_list_files(tmp_path):
    write_mini_sid_tree(tmp_path / "SID", n_scenes=6, camera="Sony", size=(96, 144), seed=1)
    dm = SIDDataModule(root=str(tmp_path / "SID"), camera="Sony", patch_size=16, batch_size=3, eval_batch_size=1,
                       exclude_misaligned_test_scenes=True, input_kind="raw_bayer", in_channels=4, upscale=2)
    dm.setup("fit")
    dm.setup("test")
    # 2 scenes per split, 3 short exposures (ratios 100, 250, 300) each.
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (6, 6, 6)
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape == (3, 4, 16, 16) and batch["target"].shape == (3, 3, 32, 32)
    assert sorted({round(dm.val_set[i]["ratio"]) for i in range(len(dm.val_set))}) == [100, 250, 300]
    full = dm.test_set[0]
    assert full["input"].shape == (4, 48, 72) and full["target"].shape == (3, 96, 144)
    assert 0 <= float(full["input"].min()) and float(full["input"].max()) <= 1.0


def test_missing_list_files_say_what_is_expected(tmp_path):
    dm = SIDDataModule(root=str(tmp_path / "nowhere"), camera="Sony")
    with pytest.raises(FileNotFoundError, match=r"Sony_train_list\.txt.*Sony_val_list\.txt"):
        dm.setup("fit")


def test_prepare_sid_cli_caches_and_resumes(tmp_path):
    from lle.prepare_sid import main

    lists = write_mini_sid_tree(tmp_path / "SID", n_scenes=3, camera="Sony", size=(64, 96), seed=2)
    main([str(lists["train"]), "--out", str(tmp_path / "cache")])
    cached = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 4  # one long exposure + three short ones
    stamps = [p.stat().st_mtime_ns for p in cached]
    main([str(lists["train"]), "--out", str(tmp_path / "cache")])  # a second run skips finished files
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    dm = SIDDataModule(root=str(tmp_path / "SID"), patch_size=16, cache_dir=str(tmp_path / "cache"), batch_size=1)
    dm.setup("fit")
    assert dm.train_set[(0, 0)]["target"].shape == (3, 32, 32)
