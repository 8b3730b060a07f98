"""Moved to `lle.cli.enhance` (0.2.0); this alias keeps old imports and `python -m lle.enhance_files` working."""

from lle.cli.enhance import find_ground_truth, find_inputs, main, parse_args, read_input  # noqa: F401

if __name__ == "__main__":
    main()
