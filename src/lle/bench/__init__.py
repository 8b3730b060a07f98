"""Measuring the networks: `lle-bench` (cli), the measurements it makes (measure), the machine they were
made on (machine) and the tables and plots it writes (report). The scripts in `benchmarks/` reuse the same
measurements, so that every figure in docs/benchmarks.md is taken the same way."""
