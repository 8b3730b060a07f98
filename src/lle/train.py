"""Moved to `lle.cli.train` (0.2.0); this alias keeps old imports and `python -m lle.train` working."""

from lle.cli.train import _hydra_main, main, run_metadata, train  # noqa: F401

if __name__ == "__main__":
    main()
