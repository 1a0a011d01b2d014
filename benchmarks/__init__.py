"""Benchmarks of scratchnn: speed (run.py) and accuracy (accuracy.py), both written to RESULTS.md."""
