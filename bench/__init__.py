"""Benchmark harness: the project against a bare Django/DRF baseline, measured in the same run."""
