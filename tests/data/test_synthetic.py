import numpy as np
import pytest
import torch

from lle.data.dng import XTRANS_SID
from lle.data.samplers import TrainingKey
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
        # Limited by the bilinear demosaic: 25 dB, less on finely detailed photographs (china's roof tiles), where
        # demosaicking alone loses about as much.
        demosaic_only = psnr(demosaic(mosaic(x)), x)
        assert psnr(process(bayer, camera), x) > min(25, demosaic_only - 4), list(seeds)[i]


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

    from lle.data.synthetic import SCENES
    from lle.data.synthetic_lol import SyntheticLowLightDataModule

    def datamodule():
        dm = SyntheticLowLightDataModule(
            crop_size=32,
            scale_range=(0.5, 1.0),
            num_val=4,
            num_test=3,
            eval_crop_size=48,
            samples_per_epoch=4,
            batch_size=2,
            eval_batch_size=4,
            num_workers=0,
            red_cast_range=(0.8, 1.25),
            blue_cast_range=(0.8, 1.25),
            black_range=(0.1, 0.5),
            jpeg_quality_range=(40, 95),
            jpeg_probability=0.5,
        )
        dm.setup("fit")
        dm.setup("test")
        return dm

    first, second = datamodule(), datamodule()
    for loader in ("val_dataloader", "test_dataloader"):  # the same samples every time, in every process
        a, b = next(iter(getattr(first, loader)())), next(iter(getattr(second, loader)()))
        assert torch.equal(a["input"], b["input"]) and a["name"] == b["name"]
    val_names = next(iter(first.val_dataloader()))["name"]
    assert {n.split("_")[1] for n in val_names} == {"chelsea", "flower"}  # more than one scene
    test_names = next(iter(first.test_dataloader()))["name"]
    assert {SCENES[n[len("test_") : -len("_0000")]] for n in test_names} == {"coffee", "motorcycle"}

    # Every installed photograph of another scene trains; none of val/test does.
    described = first.describe()
    assert described["scenes"]["val"] == ["chelsea", "flower"] and described["scenes"]["test"] == [
        "coffee",
        "motorcycle",
    ]
    assert {"astronaut", "rocket", "china"} <= set(described["scenes"]["train"])
    assert not set(described["scenes"]["train"]) & {"chelsea", "flower", "coffee", "motorcycle"}
    assert described["split_sizes"] == {"train": 4, "val": 4, "test": 3} and "samples" in described["split_unit"]

    train = first.train_dataloader()
    epochs = []
    for epoch in (0, 1):
        train.sampler.set_epoch(epoch)
        batch = next(iter(train))
        assert not any(n.startswith(("val_", "test_")) for n in batch["name"])
        assert not any(s in n for n in batch["name"] for s in ("chelsea", "flower", "coffee", "motorcycle"))
        epochs.append(batch["input"])
    assert not torch.equal(epochs[0], epochs[1])  # fresh crops and degradations every epoch


def test_an_epoch_longer_than_the_photographs_draws_a_new_sample_every_time():
    # Four training photographs, twelve samples per epoch: each photograph is read three times, each time with
    # its own crop and degradation (once, every reading of a photograph in an epoch was the same sample).
    dm = small_synthetic_module(crop_size=32, samples_per_epoch=12, batch_size=4)
    inputs = [image for batch in dm.train_dataloader() for image in batch["input"]]
    assert len(inputs) == 12
    assert len({tuple(image.flatten()[:64].tolist()) for image in inputs}) == 12


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(train_images=("coffee",)), "scenes \\['coffee'\\] are in the training and an evaluation split"),
        (dict(train_images=("motorcycle_left",)), "scenes \\['motorcycle'\\] are in the training"),  # same scene
        (dict(val_images=("coffee",)), "scenes \\['coffee'\\] are in both the validation and the test split"),
        (dict(val_images=("kodim01",)), "unknown seed photographs \\['kodim01'\\]"),
        (dict(jpeg_probability=1.5), "data.jpeg_probability must be in \\[0, 1\\]"),
        (dict(jpeg_quality_range=(0, 90)), "data.jpeg_quality_range must lie within \\[1, 95\\]"),
        (dict(scale_range=(0.5, 2.0)), "data.scale_range shrinks photographs"),
        (dict(red_cast_range=(0.0, 1.2)), "data.red_cast_range must be positive"),
        (dict(black_range=(0.2, 1.0)), "data.black_range is a fraction"),
        (dict(reference_exposure=1.5), "data.reference_exposure is a mean linear luminance"),
    ],
)
def test_synthetic_datamodule_names_bad_options(options, message):
    from lle.data.synthetic_lol import SyntheticLowLightDataModule

    with pytest.raises(ValueError, match=message):
        SyntheticLowLightDataModule(**options)


def test_seed_photographs_are_read_from_their_packages_files():
    from lle.data.synthetic import photo_path

    seeds = seed_images()
    # The file read directly is the photograph scikit-image's own loader returns.
    import skimage.data

    assert np.array_equal(seeds["chelsea"], crop_even(skimage.data.chelsea()))
    assert photo_path("china").name == "china.jpg" and seeds["china"].shape == (426, 640, 3)
    for name, image in seeds.items():
        assert image.ndim == 3 and image.shape[2] == 3 and not image.flags.writeable, name


def test_degradation_options_change_only_the_low_image(seeds):
    image = np.ascontiguousarray(seeds["astronaut"][:128, :128])
    plain_low, plain_high = make_lol_pair(image, np.random.default_rng(5), ratio_range=(10, 10))
    cast_low, cast_high = make_lol_pair(
        image, np.random.default_rng(5), ratio_range=(10, 10), red_cast_range=(1.3, 1.3), blue_cast_range=(1.3, 1.3)
    )
    assert np.array_equal(plain_high, cast_high)
    # Red and blue gains ×1.3 redden and blue the dark frame relative to its green.
    ratio = lambda low: low[..., [0, 2]].astype(float).mean() / max(low[..., 1].astype(float).mean(), 1e-6)  # noqa: E731
    assert ratio(cast_low) > 1.15 * ratio(plain_low)
    jpeg_low, jpeg_high = make_lol_pair(
        image, np.random.default_rng(5), ratio_range=(10, 10), jpeg_quality_range=(20, 20), jpeg_probability=1.0
    )
    assert np.array_equal(plain_high, jpeg_high) and not np.array_equal(plain_low, jpeg_low)
    assert np.abs(jpeg_low.astype(float) - plain_low).mean() < 6  # compressed, not replaced


@pytest.mark.parametrize("noise_after_demosaic", [False, True])
def test_black_level_error_crushes_the_dark_frames_shadows(seeds, noise_after_demosaic):
    from lle.data.calibration import pair_statistics

    image = seeds["coffee"]
    quiet = dict(ratio_range=(20, 20), shot_range=(2e-5, 2e-5), noise_after_demosaic=noise_after_demosaic)
    plain = pair_statistics(*make_lol_pair(image, np.random.default_rng(3), **quiet))
    crushed = pair_statistics(*make_lol_pair(image, np.random.default_rng(3), black_range=(0.4, 0.4), **quiet))
    assert crushed.black_clip > plain.black_clip + 0.005
    assert crushed.shadow_contrast > 1.5 * plain.shadow_contrast
    assert crushed.exposure_ratio > 1.2 * plain.exposure_ratio  # signal was removed, not only shadows


@pytest.mark.parametrize("noise_after_demosaic", [False, True])
def test_black_level_error_leaves_grey_grey(noise_after_demosaic):
    # The error is the same in every white-balanced channel: a grey scene's dark frame stays grey whatever the
    # camera's white balance (the same sensor units in each channel would take twice as much from red and blue).
    grey = np.full((64, 64, 3), 140, np.uint8)
    options = dict(ratio_range=(8, 8), shot_range=(1e-9, 1e-9), noise_after_demosaic=noise_after_demosaic)
    for seed in range(3):
        plain, _ = make_lol_pair(grey, np.random.default_rng(seed), **options)
        crushed, _ = make_lol_pair(grey, np.random.default_rng(seed), black_range=(0.3, 0.3), **options)
        means = crushed.reshape(-1, 3).astype(float).mean(axis=0)
        assert means.max() - means.min() < 0.5, means
        assert means.mean() < plain.astype(float).mean() - 3  # darker: the black level did remove signal


def small_synthetic_module(**options):
    """A SyntheticLowLightDataModule of 64-pixel crops, set up for fitting; `options` override the defaults."""
    from lle.data.synthetic_lol import SyntheticLowLightDataModule

    settings = dict(crop_size=64, num_val=2, num_test=1, eval_crop_size=64, samples_per_epoch=4, batch_size=4)
    dm = SyntheticLowLightDataModule(**{**settings, **options})
    dm.setup("fit")
    return dm


def test_training_references_are_reexposed_and_evaluation_references_are_not():
    from lle.data.calibration import mean_luminance

    plain, reexposed = small_synthetic_module(), small_synthetic_module(reference_exposure=0.3)
    for index in range(3):
        key = TrainingKey(0, index, index)
        target = reexposed.train_set[key]["target"].permute(1, 2, 0).numpy()
        assert mean_luminance(target) == pytest.approx(0.3, rel=0.05)
        assert torch.equal(plain.train_set[key]["input"], reexposed.train_set[key]["input"])
    assert torch.equal(plain.val_set[0]["target"], reexposed.val_set[0]["target"])


def test_noise_after_demosaic_is_white_like_real_downscaled_captures(seeds):
    from lle.data.calibration import pair_statistics

    image = seeds["china"]
    options = dict(ratio_range=(20, 20), shot_range=(3e-4, 3e-4))
    mosaic_noise = pair_statistics(*make_lol_pair(image, np.random.default_rng(0), **options))
    white_low, white_high = make_lol_pair(image, np.random.default_rng(0), noise_after_demosaic=True, **options)
    white = pair_statistics(white_low, white_high)
    assert mosaic_noise.noise_correlation > 0.3 and abs(white.noise_correlation) < 0.1
    # The reference is developed as before, and the noise is still the only difference that matters.
    assert np.array_equal(white_high, make_lol_pair(image, np.random.default_rng(0), **options)[1])
    assert white.exposure_ratio == pytest.approx(mosaic_noise.exposure_ratio, rel=0.1)


def test_permute_colours_shows_training_other_hues_and_leaves_evaluation_alone():
    def module(permute):
        return small_synthetic_module(
            train_images=["chelsea"],  # an orange cat: red leads green and blue in every crop
            val_images=["flower"],
            test_images=["coffee"],
            scale_range=(0.35, 0.35),
            num_val=1,
            samples_per_epoch=12,
            permute_colours=permute,
        )

    def leading_channels(dm):
        return {int(dm.train_set[TrainingKey(0, i, i)]["target"].mean(dim=(1, 2)).argmax()) for i in range(12)}

    plain, permuted = module(False), module(True)
    assert leading_channels(plain) == {0}
    assert len(leading_channels(permuted)) == 3
    assert torch.equal(plain.val_set[0]["input"], permuted.val_set[0]["input"])
    assert torch.equal(plain.val_set[0]["target"], permuted.val_set[0]["target"])
