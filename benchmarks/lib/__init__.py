"""Code the benchmark entry points share: timing, launching ranks, results, models."""
