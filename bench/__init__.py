"""Benchmarks: `python -m bench` (see bench/README.md). Figures, not pass/fail."""
