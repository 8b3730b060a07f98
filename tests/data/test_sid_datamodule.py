"""The SID DataModule on a miniature tree of real DNG files, read through rawpy like real ARW/RAF files."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from hydra.utils import instantiate

from conftest import compose_config
from lle.data.raw import read_raw, read_sid_list
from lle.data.samplers import TrainingKey
from lle.data.sid import SIDDataModule
from lle.data.synthetic import write_mini_sid_tree
from lle.data.synthetic_raw import SyntheticRawDataModule


def test_sid_splits_batches_and_levels_from_the_list_files(tmp_path):
    write_mini_sid_tree(tmp_path / "SID", n_scenes=6, camera="Sony", size=(96, 144), seed=1)
    dm = SIDDataModule(
        root=str(tmp_path / "SID"),
        camera="Sony",
        crop_size=16,
        batch_size=3,
        eval_batch_size=1,
        exclude_misaligned_test_scenes=True,
        input_kind="raw_bayer",
        in_channels=4,
        upscale=2,
    )
    dm.setup("fit")
    dm.setup("test")
    # 2 scenes per split, 3 short exposures (ratios 100, 250, 300) each.
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (6, 6, 6)
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape == (3, 4, 16, 16) and batch["target"].shape == (3, 3, 32, 32)
    assert sorted({round(dm.val_set[i]["ratio"]) for i in range(len(dm.val_set))}) == [100, 250, 300]
    full = dm.test_set[0]
    assert full["input"].shape == (4, 48, 72) and full["target"].shape == (3, 96, 144)
    assert float(full["input"].min()) >= 0 and float(full["input"].max()) <= 1.0


def test_missing_list_files_say_what_is_expected(tmp_path):
    dm = SIDDataModule(root=str(tmp_path / "nowhere"), camera="Sony")
    with pytest.raises(FileNotFoundError, match=r"Sony_train_list\.txt.*Sony_val_list\.txt"):
        dm.setup("fit")


def test_prepare_sid_cli_caches_and_resumes(tmp_path, capsys):
    from lle.cli.prepare_sid import main

    lists = write_mini_sid_tree(tmp_path / "SID", n_scenes=3, camera="Sony", size=(64, 96), seed=2)
    fit_lists = [str(lists["train"]), str(lists["val"])]
    main([*fit_lists, "--out", str(tmp_path / "cache")])
    cached = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 2 * 4  # per scene one long exposure + three short ones
    stamps = [p.stat().st_mtime_ns for p in cached]
    main([*fit_lists, "--out", str(tmp_path / "cache")])  # a second run skips finished files
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    dm = SIDDataModule(root=str(tmp_path / "SID"), crop_size=16, cache_dir=str(tmp_path / "cache"), batch_size=1)
    dm.setup("fit")
    assert dm.train_set[TrainingKey(0, 0, 0)]["target"].shape == (3, 32, 32)
    with pytest.raises(SystemExit):  # other levels than the cache's: refused with a message
        main([*fit_lists, "--out", str(tmp_path / "cache"), "--black", "512"])
    assert "--black/--white" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a missing list, or a cache folder under a file: named, no traceback
        main([str(tmp_path / "SID" / "Sony_absent_list.txt"), "--out", str(tmp_path / "cache")])
    assert "no such list file: " + str(tmp_path / "SID" / "Sony_absent_list.txt") in capsys.readouterr().err
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(SystemExit):
        main([*fit_lists, "--out", str(tmp_path / "blocker" / "cache")])
    assert f"cannot write the cache to {tmp_path / 'blocker' / 'cache'}" in capsys.readouterr().err


def test_missing_listed_files_are_reported_at_setup_with_list_and_lines(tmp_path):
    lists = write_mini_sid_tree(tmp_path / "SID", n_scenes=6, camera="Sony", size=(48, 72), seed=1)
    rows = lists["train"].read_text().splitlines()
    # Rows 7-12 name files that are not there: two scenes' ground truths and six short exposures.
    lists["train"].write_text("\n".join(rows + [row.replace("/0000", "/0009") for row in rows]) + "\n")
    dm = SIDDataModule(root=str(tmp_path / "SID"), crop_size=8, batch_size=1)
    with pytest.raises(FileNotFoundError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert str(lists["train"]) in message and "8 file(s)" in message and "... and 3 more" in message
    assert "line 7: " + str(tmp_path / "SID/Sony/short/00091_00_0.1s.dng") in message
    assert "lines 7, 8, 9: " + str(tmp_path / "SID/Sony/long/00091_00_10s.dng") in message


def test_per_scene_epochs_and_unclipped_inputs_through_the_alen_recipe(tmp_path):
    write_mini_sid_tree(tmp_path / "SID", n_scenes=6, camera="Sony", size=(48, 72), seed=1)
    cfg = compose_config(
        "train",
        ["experiment=alen_sid", f"data.root={tmp_path / 'SID'}", "data.crop_size=8", "data.num_workers=0"],
        tmp_path,
    )
    assert cfg.data.clip_input is False and cfg.data.sample == "per_scene"
    dm = instantiate(cfg.data)
    dm.setup("fit")
    # Two training scenes with three short exposures each: an epoch is two items; validation keeps every pair.
    assert (len(dm.train_set), len(dm.val_set)) == (2, 6)
    assert len(list(dm.train_dataloader())) == 2
    assert not dm.val_set.clip_input


def test_synthetic_tree_is_safe_to_write_from_concurrent_ranks(tmp_path):
    def make_module() -> SyntheticRawDataModule:
        return SyntheticRawDataModule(root=str(tmp_path / "tree"), num_scenes=3, image_size=(48, 72), crop_size=8)

    with ThreadPoolExecutor(2) as ranks:
        list(ranks.map(lambda module: module.prepare_data(), [make_module(), make_module()]))
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]  # no staging folder left behind
    files = sorted(p for p in (tmp_path / "tree").rglob("*") if p.is_file())
    assert len(files) == 3 + 3 * 4  # three lists; per scene one long and three short exposures
    for split in ("train", "val", "test"):
        for entry in read_sid_list(tmp_path / "tree" / f"Sony_{split}_list.txt"):
            for path in (entry.short, entry.long):
                with read_raw(path) as raw:
                    assert raw.raw_image_visible.shape == (48, 72)
    stamps = [p.stat().st_mtime_ns for p in files]
    make_module().setup("fit")  # a finished tree is left as it is
    assert [p.stat().st_mtime_ns for p in files] == stamps


def test_synthetic_raw_keeps_its_old_import_path():
    # Old run configs and checkpoints name lle.data.sid.SyntheticRawDataModule; the configs now use the new path.
    from hydra.utils import get_class

    import lle.data.sid
    from lle.data.sid import SyntheticRawDataModule as old

    assert old is lle.data.sid.SyntheticRawDataModule is SyntheticRawDataModule
    assert get_class("lle.data.sid.SyntheticRawDataModule") is SyntheticRawDataModule
    from lle.data.sid import prepare_sid
    from lle.data.sid_cache import prepare_sid as cache_prepare_sid

    assert prepare_sid is cache_prepare_sid


def test_crop_options_share_one_name_across_data_configs(tmp_path):
    for data in ("synthetic", "lol", "sid_sony", "sid_fuji", "synthetic_raw", "synthetic_raw_fuji"):
        cfg = compose_config("train", [f"data={data}"], tmp_path)
        assert "crop_size" in cfg.data and "eval_crop_size" in cfg.data, data
        assert not {"patch_size", "eval_patch_size", "eval_crop"} & set(cfg.data), data
    assert compose_config("train", ["experiment=alen_sid"], tmp_path).data.crop_size == 512
