"""Tiles without seams: tiled enhancement equals whole-image enhancement (issue 20).

A purely local network is tiled exactly; networks with image-level context get the whole image's statistics
(`lle.models.image_statistics`), so GLADNet's tiles share one global illumination and attention layers pool
over the whole image. On a smooth gradient, no tile border shows a step beyond the untiled output's own.
Tiles smaller than a network's declared minimum, which would stray from the untiled output by more than the
documented 45 dB, are refused by name (issue 36).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

import lle.models
from lle.cli.enhance import main as enhance_main
from lle.inference import enhance, enhance_tensor, enhance_tiled, needs_tiles, tile_length, tile_starts
from lle.metrics import psnr
from lle.models.absgn import ABSGN, GSA
from lle.models.alen import NonLocalAttention
from lle.models.blocks import ChannelAttention, crop_to, pad_to_multiple
from lle.models.image_statistics import ImageStatistics, spatial_mean
from lle.models.interface import TILED_PSNR_DB, tile_minimum
from lle.models.mirnet_v2 import ContextBlock
from lle.runs.checkpoint import CheckpointMetadata


def gradient(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A dark, smooth colour gradient with a little texture: 1×3×H×W in [0, 1]."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    texture = 0.02 * torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed))
    return (torch.stack([0.05 + 0.2 * yy, 0.08 + 0.12 * xx, 0.15 * yy * xx + 0.03]) + texture)[None]


def local_network() -> nn.Module:
    """Convolutions only: the receptive field reaches 4 px, within a quarter of a 32 px overlap."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()]
    for _ in range(3):
        layers += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(8, 3, 1)).eval()


class GridNetwork(nn.Module):
    """Local, but on an 8-pixel grid, like the downsampling stages of ABSGN or MIRNet: pads to a multiple of 8,
    averages 8×8 cells of a convolution and brings them back to full resolution."""

    size_multiple = 8

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.size_multiple)
        cells = F.avg_pool2d(self.conv(x), self.size_multiple)
        return crop_to(x + F.interpolate(cells, scale_factor=self.size_multiple, mode="nearest"), size)


class GlobalContextNetwork(nn.Module):
    """Small convolutions between every kind of image-level layer lle's networks use: squeeze-and-excitation
    (GLADNet aside, all of them), GCNet's global softmax (MIRNet-v2), max + mean pooling (ABSGN's GSA) and
    non-local attention over pooled keys (ALEN)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv_in = nn.Conv2d(3, 16, 3, padding=1)
        self.attention = ChannelAttention(16, 4)
        self.context = ContextBlock(16)
        self.gsa = GSA(16)
        self.nonlocal_attention = NonLocalAttention(16)
        self.conv_out = nn.Conv2d(32, 3, 3, padding=1)
        for p in self.parameters():  # large enough weights that every statistic matters
            p.data.normal_(0, 0.4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv_in(x))
        h = self.gsa(self.context(self.attention(h)))
        return self.conv_out(torch.cat([self.nonlocal_attention(h), h], dim=1)) + x


def max_step(y: torch.Tensor, dim: int) -> torch.Tensor:
    """Per position along `dim`, the largest difference between neighbouring pixels across the other axis."""
    steps = y.diff(dim=dim).abs()
    other = -1 if dim == -2 else -2
    return steps.amax(dim=(0, 1, other))


def test_tiled_equals_whole_exactly_for_a_local_network():
    net, x = local_network(), gradient(160, 232)
    with torch.no_grad():
        whole = net(x)
    statistics = ImageStatistics()
    tiled = enhance_tiled(net, x, tile=96, overlap=32, statistics=statistics)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)
    assert statistics.passes == 1 and statistics.count == 0  # nothing image-level: one pass


def test_tiles_stay_on_the_grid_of_a_network_that_pads_to_a_multiple():
    # 100×150 is on no 8-pixel grid: tiles ending at the image's edge would start off the grid and average other
    # cells than the whole pass. Padded once and tiled on the grid, the result is exact.
    net, x = GridNetwork().eval(), gradient(100, 150)
    with torch.no_grad():
        whole = net(x)
    torch.testing.assert_close(enhance_tiled(net, x, tile=64, overlap=32), whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(enhance_tiled(net, x, tile=70, overlap=32), whole, rtol=0, atol=1e-6)
    assert tile_length(70, 104, 8) == 64 and tile_starts(152, 64, 30, 8) == [0, 32, 64, 88]


class StridedNetwork(nn.Module):
    """Downsamples without padding to a multiple, as Retinex-Net's TF 'SAME' strided convolutions do: ⌈H/2⌉, and
    for an odd size the window is centred on even pixels, for an even one on odd pixels."""

    stride_multiple = 2

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.down = nn.Conv2d(3, 3, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = ((-n) % 2 + 1 for n in x.shape[-2:])  # TF SAME: the far side gets the larger half
        h = self.down(F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)))
        return x + F.interpolate(h, size=x.shape[-2:], mode="nearest")


@pytest.mark.parametrize("size", [(100, 150), (101, 151)])
def test_tiles_sample_where_the_whole_image_does_for_a_network_that_does_not_pad(size):
    # At odd sizes the whole image's strided samples sit on even pixels: each tile's sides keep the image's parity.
    net, x = StridedNetwork().eval(), gradient(*size)
    with torch.no_grad():
        whole = net(x)
    torch.testing.assert_close(enhance_tiled(net, x, tile=64, overlap=32), whole, rtol=0, atol=1e-6)


def test_tiles_share_the_whole_image_statistics_of_every_kind_of_global_layer():
    # Tile starts and the middles of the overlaps are multiples of 8, the non-local keys' pooling cell, so the
    # tiles' keys are exactly the image's; the convolutions reach 5 px, within the overlap's zero-weight quarter.
    net, x = GlobalContextNetwork().eval(), gradient(96, 160)
    assert tile_starts(96, 64, 32) == [0, 32] and tile_starts(160, 64, 32) == [0, 32, 64, 96]
    with torch.no_grad():
        whole = net(x)
    alone = enhance_tiled(net, x, tile=64, overlap=32, max_passes=1)  # each tile with its own context
    statistics = ImageStatistics()
    shared = enhance_tiled(net, x, tile=64, overlap=32, max_passes=8, tolerance=1e-6, statistics=statistics)
    assert statistics.count == 5  # mean, softmax pool, max and mean (GSA), keys and values: in call order
    assert statistics.passes < 8 and statistics.change <= 1e-6  # settled before the cap
    assert float((alone - whole).abs().max()) > 1e-2  # the statistics matter for this network
    torch.testing.assert_close(shared, whole, rtol=0, atol=1e-4)


def test_statistics_are_the_plain_operations_outside_tiling():
    x = torch.rand(2, 5, 7, 9)
    assert torch.equal(spatial_mean(x), x.mean(dim=(-2, -1), keepdim=True))


def test_gladnet_tiles_share_one_global_illumination():
    torch.manual_seed(0)
    net = lle.models.build("gladnet", detail_channels=32).eval()  # the official global branch, narrower details
    x = gradient(128, 200)
    with torch.no_grad():
        whole = net(x)
    alone = enhance_tiled(net, x, tile=96, overlap=32, max_passes=1)  # each tile's own 96×96 downsample
    statistics = ImageStatistics()
    shared = enhance_tiled(net, x, tile=96, overlap=32, statistics=statistics)
    assert statistics.passes == 2 and statistics.change == 0  # gather the image, then use it
    # The detail convolutions reach 5 px, beyond a quarter of the overlap (8 px) by nothing: exact.
    torch.testing.assert_close(shared, whole, rtol=0, atol=1e-5)
    shared_db, alone_db = (float(psnr(y.clamp(0, 1), whole.clamp(0, 1))[0]) for y in (shared, alone))
    assert shared_db >= 45 and shared_db > alone_db + 10


@pytest.mark.parametrize(
    ("name", "overrides", "size"),
    [
        ("gladnet", {"detail_channels": 32}, (160, 232)),
        ("alen", {"srgb_input": True, "in_channels": 3}, (160, 224)),
    ],
)
def test_no_step_at_tile_borders_on_a_smooth_gradient(name, overrides, size):
    torch.manual_seed(0)
    net = lle.models.build(name, **overrides).eval()
    x = gradient(*size)
    with torch.no_grad():
        whole = net(x)
    tiled = enhance_tiled(net, x, tile=96, overlap=32)
    for dim, length in ((-2, size[0]), (-1, size[1])):
        starts = tile_starts(length, 96, 32)
        for previous, start in itertools.pairwise(starts):  # each overlap band, and a pixel either side
            band = slice(start - 1, previous + 96 + 1)
            tiled_step, whole_step = max_step(tiled, dim)[band], max_step(whole, dim)[band]
            assert float(tiled_step.max()) <= 1.1 * float(whole_step.max()) + 2e-3, (name, dim, start)


def test_enhance_tiles_by_itself_only_when_the_image_would_not_fit():
    net = lle.models.build("gladnet").eval()
    fits = needs_tiles(net, (1, 3, 1200, 1800), free_bytes=64 * 2**30)
    assert fits.tile is None and "untiled" in fits.reason
    too_big = needs_tiles(net, (1, 3, 1200, 1800), tile=256, free_bytes=2**30)
    assert too_big.tile == 256 and "would need about 3.8 GiB" in too_big.reason
    assert needs_tiles(net, (1, 3, 300, 400), free_bytes=1).tile is None  # a single tile anyway
    x = gradient(64, 80)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fits: no tiling, no warning
        assert torch.equal(enhance(net, x), enhance(net, x, tile=None))
    with pytest.raises(ValueError, match="tile 40 is too small: use at least 64"):
        enhance(net, x, tile=40, overlap=32)


def test_lle_enhance_tiles_a_png_like_the_whole_image(checkpoint, tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    pixels = (gradient(150, 230)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(source / "dark.png")
    outputs = {}
    for tile in ("0", "96"):
        out = tmp_path / f"tile{tile}"
        assert enhance_main([str(source), str(out), "--model", str(checkpoint), "--tile", tile, "--bits", "16"]) == 0
        outputs[tile] = {p.name: np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))}
    assert sorted(outputs["96"]) == ["dark.png"]
    for name, whole in outputs["0"].items():
        tiled = outputs["96"][name].astype(np.float64) / 65535
        mse = np.mean((tiled - whole.astype(np.float64) / 65535) ** 2)
        assert mse == 0 or 10 * np.log10(1 / mse) >= 45, name
    with pytest.raises(SystemExit) as refused:
        enhance_main(
            [str(source), str(tmp_path / "x"), "--model", str(checkpoint), "--tile", "48", "--tile-overlap", "32"]
        )
    assert refused.value.code == 2
    assert "--tile 48 is too small: use at least 64" in capsys.readouterr().err


def write_checkpoint(path, name: str, **net_overrides) -> None:
    """An lle checkpoint of `name`'s network with seeded weights, as `lle-train` would store it."""
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(lle.models.model_config(name), resolve=True)
    config["net"].update(net_overrides)
    torch.manual_seed(0)
    net = lle.models.build(name, **net_overrides)
    checkpoint = {"state_dict": {f"net.{key}": value for key, value in net.state_dict().items()}}
    CheckpointMetadata(model_name=name, model_config=config).store(checkpoint)
    torch.save(checkpoint, path)


def test_lle_enhance_refuses_tiles_below_the_networks_minimum_in_one_block(tmp_path, capsys):
    # ABSGN's dilated convolutions at ¼ and ⅛ resolution reach far beyond a small overlap: --tile 32 --tile-overlap 8
    # gave 23–36 dB against the untiled output, with exit 0 (issue 36). Refused before anything is written.
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray((gradient(40, 56)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
        source / "dark.png"
    )
    model = tmp_path / "absgn.ckpt"
    write_checkpoint(model, "absgn", start_channels=8)
    out = tmp_path / "out"
    code = enhance_main([str(source), str(out), "--model", str(model), "--tile", "32", "--tile-overlap", "8"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.startswith("lle-enhance: error: --tile 32 with --tile-overlap 8 is too small for absgn")
    assert f"only from --tile {ABSGN.min_tile} with --tile-overlap {ABSGN.min_tile_overlap} up" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    overlap_too_small = ["--tile", str(ABSGN.min_tile), "--tile-overlap", "0"]
    assert enhance_main([str(source), str(out), "--model", str(model), *overlap_too_small]) == 2
    assert "is too small for absgn" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "overrides", "size"),
    [("absgn", {"start_channels": 8}, (136, 144)), ("gladnet", {"global_channels": 8, "detail_channels": 8}, (48, 72))],
)
def test_tiles_at_the_declared_minimum_meet_the_documented_figure(name, overrides, size):
    torch.manual_seed(0)
    net = lle.models.build(name, **overrides).eval()
    minimum = tile_minimum(net)
    x = gradient(*size)
    with torch.no_grad():
        whole = net(x)
    tiled = enhance_tensor(net, x, tile=minimum.tile, overlap=minimum.overlap)
    assert len(tile_starts(size[0], minimum.tile, minimum.overlap)) > 1  # really tiled, in both directions
    assert float(psnr(tiled.clamp(0, 1), whole.clamp(0, 1))[0]) >= TILED_PSNR_DB
    if minimum.tile > 32:
        with pytest.raises(ValueError, match=f"only from tile {minimum.tile} with overlap {minimum.overlap} up"):
            enhance(net, x, tile=minimum.tile - 8, overlap=minimum.overlap)
    # The automatic choice never goes below the minimum either.
    decision = needs_tiles(net, (1, 3, 4000, 6000), tile=32, overlap=0, free_bytes=1)
    assert decision.tile >= minimum.tile and decision.overlap >= minimum.overlap


def test_a_method_no_tile_keeps_to_the_figure_is_never_tiled():
    # Histogram equalization equalizes what it is given: a tile's own histogram (10–20 dB against the untiled output).
    net, x = lle.models.build("he"), gradient(64, 96)
    with pytest.raises(ValueError, match=r"HistogramEqualization cannot be tiled: .* use tile=None"):
        enhance(net, x, tile=64, overlap=16)
    decision = needs_tiles(net, (1, 3, 4000, 6000), free_bytes=1)
    assert decision.tile is None and decision.short_of_memory and "cannot be tiled" in decision.reason
