"""Run bookkeeping: what `lle-train` and `lle-eval` leave behind and how they keep it safe.

- `guard`: the output-directory guard (never write into another run's directory);
- `record`: the run record (resolved config, command line, environment);
- `results`: `metrics.json`, `per_image.csv` and failure records;
- `checkpoint`: what an lle checkpoint carries besides weights (`CheckpointMetadata`) and how it is read;
- `loggers`: logger variants and the W&B run bookkeeping;
- `rng`: random-number-generator states for exact resume;
- `task`: the wrapper every task runs in (failure records, W&B closing) and Hydra helpers.

Nothing here is imported by `lle.models` or `lle.data`.
"""
