import numpy as np
import pytest

from lle.data.dng import XTRANS_SID
from lle.data.synthetic import crop_even, make_lol_pair, make_sid_pair, seed_images, write_mini_sid_tree
from lle.data.unprocess import demosaic, mosaic, process, unprocess


@pytest.fixture(scope="module")
def seeds():
    return seed_images()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_seed_images_are_even_colour_uint8(seeds):
    assert {"coffee", "astronaut", "chelsea", "rocket"} <= set(seeds)
    assert seeds["coffee"].shape == (400, 600, 3)  # LOL's resolution
    assert seeds["chelsea"].shape == (300, 450, 3)  # 451 cropped to even
    for image in seeds.values():
        assert image.dtype == np.uint8 and image.shape[0] % 2 == 0 and image.shape[1] % 2 == 0


def test_pair_shapes_and_dtypes(seeds):
    low, high = make_lol_pair(seeds["coffee"], np.random.default_rng(0))
    assert low.shape == high.shape == (400, 600, 3)
    assert low.dtype == high.dtype == np.uint8
    odd = np.ascontiguousarray(seeds["coffee"][:99, :101])
    low, high = make_lol_pair(odd, np.random.default_rng(0))
    assert low.shape == high.shape == crop_even(odd).shape == (98, 100, 3)


def test_pair_is_deterministic_for_a_seed(seeds):
    image = seeds["chelsea"]
    first = make_lol_pair(image, np.random.default_rng(7))
    again = make_lol_pair(image, np.random.default_rng(7))
    other = make_lol_pair(image, np.random.default_rng(8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_low_is_lol_dark(seeds):
    low_means = []
    for i, image in enumerate(seeds.values()):
        low, high = make_lol_pair(image, np.random.default_rng(i))
        assert low.mean() < high.mean() / 3
        low_means.append(low.mean() / 255)
    # Real LOL low images average about 0.05 in sRGB.
    assert 0.02 <= np.mean(low_means) <= 0.12


def test_high_keeps_the_seed_brightness(seeds):
    _, high = make_lol_pair(seeds["astronaut"], np.random.default_rng(3))
    assert abs(high.mean() - seeds["astronaut"].mean()) < 0.05 * 255


def test_process_inverts_unprocess(seeds):
    for i, image in enumerate(seeds.values()):
        x = image.astype(np.float32) / 255
        bayer, camera = unprocess(x, np.random.default_rng(i))
        assert bayer.shape == (x.shape[0] // 2, x.shape[1] // 2, 4) and bayer.dtype == np.float32
        assert psnr(process(bayer, camera), x) > 25  # limited by the bilinear demosaic


def test_demosaic_keeps_samples_and_flat_fields():
    rng = np.random.default_rng(0)
    rgb = rng.random((6, 8, 3), dtype=np.float32)
    # Every mosaic site keeps its sample ...
    np.testing.assert_array_equal(mosaic(demosaic(mosaic(rgb))), mosaic(rgb))
    # ... and a constant colour is reproduced everywhere, borders included.
    flat = np.broadcast_to(np.float32([0.2, 0.5, 0.7]), (6, 8, 3))
    np.testing.assert_allclose(demosaic(mosaic(flat)), flat, atol=1e-6)


def test_mosaic_rejects_odd_sizes():
    with pytest.raises(ValueError, match="even"):
        mosaic(np.zeros((5, 4, 3), np.float32))


def test_sid_pair_is_14_bit_with_noise_below_black(seeds):
    short, long, meta = make_sid_pair(seeds["astronaut"], np.random.default_rng(0), ratio=250)
    assert short.shape == long.shape == (512, 512) and short.dtype == long.dtype == np.uint16
    assert short.max() <= 16383 and meta.black_level == 512 and meta.white_level == 16383
    assert (short < 512).mean() > 0.05  # unclipped read noise, as a sensor records it
    # Noise is added before the black offset, so the amplified dark frame keeps the long frame's mean.
    signal = lambda dn: dn.astype(np.float64).mean() - 512  # noqa: E731
    assert abs(signal(short) * 250 / signal(long) - 1) < 0.05
    again = make_sid_pair(seeds["astronaut"], np.random.default_rng(0), ratio=250)
    assert np.array_equal(again[0], short) and np.array_equal(again[1], long)


def test_sid_pair_xtrans_crops_to_whole_tiles(seeds):
    short, long, meta = make_sid_pair(seeds["chelsea"], np.random.default_rng(0), 100, black=1024, pattern=XTRANS_SID)
    assert short.shape == long.shape == (300, 450) and np.array_equal(meta.pattern, XTRANS_SID)
    short, _, _ = make_sid_pair(seeds["chelsea"][:100, :100], np.random.default_rng(0), 100, pattern=XTRANS_SID)
    assert short.shape == (96, 96)


def test_fuji_tree_needs_libraw_sized_frames(tmp_path):
    with pytest.raises(ValueError, match="516"):
        write_mini_sid_tree(tmp_path, n_scenes=1, camera="Fuji", size=(120, 120))
    with pytest.raises(ValueError, match="camera"):
        write_mini_sid_tree(tmp_path, camera="Canon")


def test_synthetic_datamodule_splits_by_scene_and_repeats_only_evaluation(tmp_path):
    import torch

    from lle.data.synthetic_lol import SyntheticLowLightDataModule

    def datamodule():
        dm = SyntheticLowLightDataModule(
            crop_size=32,
            num_val=3,
            num_test=3,
            eval_crop_size=48,
            samples_per_epoch=4,
            batch_size=2,
            eval_batch_size=3,
            num_workers=0,
        )
        dm.setup("fit")
        dm.setup("test")
        return dm

    first, second = datamodule(), datamodule()
    for loader in ("val_dataloader", "test_dataloader"):  # the same samples every time, in every process
        a, b = next(iter(getattr(first, loader)())), next(iter(getattr(second, loader)()))
        assert torch.equal(a["input"], b["input"]) and a["name"] == b["name"]
    assert all("chelsea" in n for n in next(iter(first.val_dataloader()))["name"])
    assert all("coffee" in n for n in next(iter(first.test_dataloader()))["name"])

    train = first.train_dataloader()
    epochs = []
    for epoch in (0, 1):
        train.sampler.set_epoch(epoch)
        batch = next(iter(train))
        assert not any(n.startswith(("val_", "test_")) or "chelsea" in n or "coffee" in n for n in batch["name"])
        epochs.append(batch["input"])
    assert not torch.equal(epochs[0], epochs[1])  # fresh crops and degradations every epoch
    with pytest.raises(ValueError, match="training and an evaluation split"):
        SyntheticLowLightDataModule(train_images=("coffee",), test_images=("coffee",))
