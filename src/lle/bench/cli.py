"""Moved to `lle.cli.bench` (0.2.0); this alias keeps old imports and `python -m lle.bench.cli` working."""

from lle.cli.bench import main, measure_model, parse_size  # noqa: F401

if __name__ == "__main__":
    main()
