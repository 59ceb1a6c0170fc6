"""Benchmarks that time each framework in a process of its own (so peak memory is per framework)."""
import json
import os
import subprocess
import sys

from .common import ROOT


def run_child(module, framework):
    """``python -m module --child framework`` on one thread: the JSON of its last output line,
    or None when the framework is PyTorch and it is not installed."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", module, "--child", framework],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        if framework == "torch" and "No module named 'torch'" in proc.stderr:
            return None
        raise RuntimeError(f"{framework} benchmark failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
