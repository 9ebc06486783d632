"""The step cache's recommended threshold, importable without torch (the command line's
argument parser shows it before anything heavy loads)."""

# Measured with benchmarks/bench_step_cache.py (30 rflow steps) on the trained embedded demo
# model: 13 of 30 transformer calls at 31.0 dB PSNR of the decoded batch against the uncached
# run (34.5 and 34.9 dB on two more seeds). 0.3 still gave 30.9 dB on one seed with 10 calls;
# 0.2 is kept for margin. See the README table.
RECOMMENDED_THRESHOLD = 0.2
