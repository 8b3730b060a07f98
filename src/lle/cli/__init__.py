"""Entry points: one module per console script."""
