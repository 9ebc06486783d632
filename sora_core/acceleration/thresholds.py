"""The step cache's recommended threshold, importable without torch (the command line's
argument parser shows it before anything heavy loads)."""

# Measured with benchmarks/bench_step_cache.py (30 rflow steps, cfg 7): the largest threshold
# keeping decoded frames >= 30 dB PSNR against the uncached run. See the README table.
RECOMMENDED_THRESHOLD = 0.2
