"""Moved to `lle.cli.prepare_sid` (0.2.0); this alias keeps old imports and `python -m lle.prepare_sid` working."""

from lle.cli.prepare_sid import main

if __name__ == "__main__":
    main()
