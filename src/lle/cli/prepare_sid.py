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

from lle.data.sid_cache import prepare_sid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lle-prepare-sid", description=__doc__.split("\n")[0])
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
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = prepare_sid(args.list_files, args.out, black=args.black, white=args.white, inputs=not args.no_inputs)
    except ValueError as error:  # other levels than the cache's, a malformed list row: a message, not a trace
        parser.error(str(error))
    print(f"{len(written)} files written to {args.out} (existing files were kept)")


if __name__ == "__main__":
    main()
