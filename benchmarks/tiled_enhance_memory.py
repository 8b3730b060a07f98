"""Peak memory (RSS) and time of enhancing one large image with tiles, as `lle-enhance --tile` does it.

    python benchmarks/tiled_enhance_memory.py                                  # GLADNet, 4256×2848, tile 512
    python benchmarks/tiled_enhance_memory.py --model mirnet_v2 --tile 256 --size 1024 1536
    python benchmarks/tiled_enhance_memory.py --tile 0 --size 1024 1536        # untiled, for comparison
    python benchmarks/tiled_enhance_memory.py --images 20 --size 1424 2128    # memory over many images
    python benchmarks/tiled_enhance_memory.py --model alen --set srgb_input=true in_channels=3   # ALEN on sRGB

The image is a photograph that ships with scikit-image, resized to `--size` and darkened, written as a PNG
and read back, so decoding and encoding are part of the figure as in lle-enhance. The network has its
default (untrained) weights: memory and time do not depend on the values. Run it alone: ru_maxrss is the
process's high-water mark.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

import lle.models
from lle.data.io import read_image, to_float_tensor, write_image
from lle.inference import Enhancer, enhance_tensor


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def write_dark_photo(path: Path, height: int, width: int) -> None:
    """In uint8 throughout (36 MB at 4256×2848), so that making the image does not set the RSS high-water mark."""
    from PIL import Image
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.BILINEAR))
    Image.fromarray((photo // 7).astype(np.uint8)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gladnet", help="an sRGB network from lle.models.available()")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="constructor overrides for lle.models.build, e.g. srgb_input=true in_channels=3",
    )
    parser.add_argument("--size", type=int, nargs=2, default=(2848, 4256), metavar=("H", "W"))
    parser.add_argument("--tile", type=int, default=512, help="tile side in pixels; 0: the whole image at once")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--images",
        type=int,
        default=1,
        help="enhance the image this many times, as an evaluation over many files does; the peak "
        "after the first and after the last show whether memory stays bounded",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    overrides = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    model = Enhancer(lle.models.build(args.model, **overrides))  # lle-enhance's defaults (channels_last for networks)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "dark.png"
        write_dark_photo(source, *args.size)
        before = peak_rss_mib()
        start = time.perf_counter()
        peaks = []
        for index in range(args.images):
            x = to_float_tensor(read_image(source))
            y = enhance_tensor(model, x[None], tile=args.tile or None, overlap=args.overlap)[0]
            write_image(Path(tmp) / f"enhanced_{index}.png", y)
            peaks.append(peak_rss_mib())
            del x, y
        seconds = (time.perf_counter() - start) / args.images
    print(
        f"model            {args.model}{' ' + str(overrides) if overrides else ''}, channels_last={model.channels_last}, torch {torch.__version__}, "
        f"{args.threads} threads"
    )
    print(
        f"image            {args.size[0]}×{args.size[1]}, "
        + (f"tiles {args.tile} (overlap {args.overlap})" if args.tile else "untiled")
    )
    print(f"peak RSS before  {before:,.0f} MiB (interpreter, torch, weights)")
    print(f"peak RSS         {peaks[-1]:,.0f} MiB (read, enhance, write)")
    if args.images > 1:
        print(f"peak RSS after   image 1: {peaks[0]:,.0f} MiB, image {args.images}: {peaks[-1]:,.0f} MiB")
    print(f"time             {seconds:.1f} s" + (" per image" if args.images > 1 else ""))


if __name__ == "__main__":
    main()
