"""distgrad's benchmarks: each module at this level is an entry point, run from the repository
root as ``python -m benchmarks.<name>`` (see README.md); shared code is in ``lib``."""
