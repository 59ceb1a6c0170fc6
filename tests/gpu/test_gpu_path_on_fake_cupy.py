"""The GPU tests, run on a machine without a GPU against the NumPy-backed CuPy of fake_cupy/:
every tensor meant for the GPU is a wrapped array that refuses NumPy operands and implicit
conversion, so distgrad code that mixes host and device data, or a GPU test that would fail
for reasons other than the GPU itself, fails here first. The fused kernels cannot run here
(NVRTC compiles them in test_gpu_kernel_sources.py; a real GPU runs them)."""
import os
import subprocess
import sys

import pytest

import distgrad

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FAKE = os.path.join(HERE, "fake_cupy")


@pytest.mark.timeout(240)
@pytest.mark.skipif(distgrad.cuda.is_available(), reason="a real GPU is here: the GPU tests run on it directly")
def test_gpu_tests_pass_on_the_numpy_backed_cupy():
    env = dict(os.environ, DISTGRAD_FAKE_CUPY_NO_KERNELS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (FAKE, ROOT, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no_kernels", "-p", "no:cacheprovider",
                           "-W", "ignore::pytest.PytestAssertRewriteWarning",
                           "-m", "gpu", HERE], capture_output=True, text=True, timeout=220, env=env, cwd=ROOT)
    tail = "\n".join(proc.stdout.splitlines()[-40:]) + proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
