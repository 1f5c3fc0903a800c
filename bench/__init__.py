"""Benchmarks: what fpic's guarantees cost, as ratios to baselines measured in the same run.

Run ``python bench/run.py [--quick] [--json FILE]``; docs/performance.md explains each figure.
"""
