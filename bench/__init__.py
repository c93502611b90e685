"""Benchmarks of the project's models on public data, run by hand (see bench/README.md)."""
