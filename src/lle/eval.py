"""Moved to `lle.cli.eval` (0.2.0); this alias keeps old imports and `python -m lle.eval` working."""

from lle.cli.eval import _hydra_main, evaluate, main  # noqa: F401

if __name__ == "__main__":
    main()
