import numpy as np
import png
import pytest
import torch
from PIL import Image

from lle.data.io import ImageReadError, read_image, to_float_tensor, write_image


def test_modes_are_converted_to_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 7), 9, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)
    gray, rgba, palette, jpeg = (read_image(tmp_path / n) for n in ("gray.png", "rgba.png", "palette.png", "photo.jpg"))
    assert gray.shape == (6, 7, 3) and (gray[..., 1] == rgb[..., 0]).all()
    assert (rgba == rgb).all()
    assert (
        palette.dtype == np.uint8 and (palette == np.asarray(Image.open(tmp_path / "palette.png").convert("RGB"))).all()
    )
    assert jpeg.shape == (6, 7, 3)


def test_a_photograph_with_an_exif_orientation_is_read_upright(tmp_path):
    # A portrait phone shot: landscape pixels and EXIF orientation 6 (rotate 90° clockwise to view).
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:, :10] = 255  # a white band on the stored image's left edge
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "portrait.jpg", quality=95, exif=exif)
    Image.fromarray(stored).save(tmp_path / "plain.jpg", quality=95)
    upright = read_image(tmp_path / "portrait.jpg")
    assert upright.shape == (60, 40, 3)  # as a viewer shows it
    assert upright[:10].mean() > 200 and upright[-10:].mean() < 50  # the left edge turned to the top
    assert read_image(tmp_path / "plain.jpg").shape == (40, 60, 3)


def test_16bit_png_keeps_16_bits(tmp_path):
    rgb16 = np.random.default_rng(1).integers(0, 65536, (5, 4, 3), dtype=np.uint16)
    png.from_array(rgb16.reshape(5, 12), "RGB;16").save(str(tmp_path / "rgb16.png"))
    gray16 = rgb16[..., 0]
    png.from_array(gray16, "L;16").save(str(tmp_path / "gray16.png"))
    a, b = read_image(tmp_path / "rgb16.png"), read_image(tmp_path / "gray16.png")
    assert a.dtype == np.uint16 and (a == rgb16).all()
    assert b.dtype == np.uint16 and (b[..., 2] == gray16).all()
    assert float(to_float_tensor(a).max()) <= 1.0


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:40])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photo)
    truncated_jpeg = tmp_path / "truncated.jpg"
    truncated_jpeg.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    for bad in (truncated, garbage, truncated_jpeg):
        with pytest.raises(ImageReadError, match=bad.name):
            read_image(bad)
    with pytest.raises(ImageReadError, match="no such image"):
        read_image(tmp_path / "absent.png")


@pytest.mark.parametrize("bits", [8, 16])
def test_write_image_round_trip(tmp_path, bits):
    image = torch.rand(3, 9, 11)
    write_image(tmp_path / "out.png", image, bits=bits)
    back = to_float_tensor(read_image(tmp_path / "out.png"))
    assert back.shape == image.shape
    assert (back - image).abs().max() <= 0.5 / (2**bits - 1) + 1e-6
    assert not list(tmp_path.glob(".*tmp*"))


def test_tiffs_of_8_and_16_bits_interleaved_or_planar(tmp_path):
    import tifffile

    rgb16 = np.random.default_rng(3).integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "contig16.tif", rgb16, photometric="rgb")
    tifffile.imwrite(tmp_path / "planar16.tiff", np.moveaxis(rgb16, -1, 0), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "gray8.tif", (rgb16[..., 0] >> 8).astype(np.uint8), photometric="minisblack")
    for name in ("contig16.tif", "planar16.tiff"):
        image = read_image(tmp_path / name)
        assert image.dtype == np.uint16 and (image == rgb16).all(), name
    gray = read_image(tmp_path / "gray8.tif")
    assert gray.dtype == np.uint8 and gray.shape == (5, 6, 3) and (gray[..., 1] == rgb16[..., 0] >> 8).all()
