"""`lle-prepare-sid`: develop SID ground truths and pack inputs once, as uint16 .npy files to memory-map.

    lle-prepare-sid /data/SID/Sony_train_list.txt /data/SID/Sony_val_list.txt /data/SID/Sony_test_list.txt \
        --out /data/SID/cache --black 512 --white 16383
    lle-train data=sid_sony data.root=/data/SID data.cache_dir=/data/SID/cache

Resumable: files already written are skipped, and each file is written under a temporary name first.
The packed inputs depend on --black/--white, which the cache records: a later run, or data.black/data.white,
with other levels is refused (use the data config's levels: 512/16383 for Sony, 1024/16383 for Fuji).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lle.cli import description
from lle.data.sid_cache import prepare_sid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lle-prepare-sid", description=description(__doc__))
    parser.add_argument("list_files", nargs="+", help="official list files, e.g. Sony_train_list.txt")
    parser.add_argument("--out", required=True, help="cache folder (data.cache_dir)")
    parser.add_argument(
        "--black",
        type=float,
        default=None,
        help="black level override (SID: 512 Sony, 1024 Fuji); must equal data.black",
    )
    parser.add_argument(
        "--white", type=float, default=None, help="white level override (SID: 16383); must equal data.white"
    )
    parser.add_argument(
        "--no-inputs", action="store_true", help="develop ground truths only (inputs are then decoded at each access)"
    )
    args = parser.parse_args(argv)
    missing = [name for name in args.list_files if not Path(name).is_file()]
    if missing:
        parser.error(f"no such list file: {', '.join(missing)} (SID's lists sit beside its Sony/ and Fuji/ folders)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = prepare_sid(args.list_files, args.out, black=args.black, white=args.white, inputs=not args.no_inputs)
    except (ValueError, FileNotFoundError) as error:  # other levels, a malformed row, a missing RAW file
        parser.error(str(error))
    except OSError as error:  # the cache folder under a file, read-only, or a full disk
        parser.error(f"cannot write the cache to {args.out}: {error.strerror or error}")
    print(f"{len(written)} files written to {args.out} (existing files were kept)")


if __name__ == "__main__":
    main()
