"""Benchmarks: ``python -m benchmarks.NAME [--quick] [--json PATH]``; ratios against peers
measured in the same process (see benchmarks/README.md)."""
