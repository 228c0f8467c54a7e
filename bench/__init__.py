"""Benchmarks: each script prints its own ratios against a baseline (see the README)."""
