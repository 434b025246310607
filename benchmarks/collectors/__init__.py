"""Collector benchmarks (``python -m benchmarks.collectors.<name>``)."""
