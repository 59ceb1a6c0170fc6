"""With the NumPy-backed CuPy of this folder and DISTGRAD_FAKE_CUPY_CPU_KERNELS=1: distgrad's fused
elementwise kernels (optimizer updates, bias + ReLU, LSTM cell, GELU) run, compiled for the CPU by
g++ (cupy/_cpu_elementwise.py). Its raw kernels (cross-entropy forward, bucket packing: warp
shuffles and device addresses) cannot run here, so distgrad is routed around them, and the
tests that need them, or CuPy's memory pool, are skipped. Loaded by sitecustomize.py in every
process and as a pytest plugin (-p cpu_kernels)."""
import os

import pytest

from distgrad.cuda import fused_loss, kernels

assert os.environ.get("DISTGRAD_FAKE_CUPY_CPU_KERNELS"), "cpu_kernels needs DISTGRAD_FAKE_CUPY_CPU_KERNELS=1"
kernels.can_copy_segments = lambda arrays, flat: False
fused_loss.supports = lambda input: False  # its forward is a raw kernel

# the tests of the raw kernels, and those needing what the stand-in lacks besides (memory pool)
NEEDS_RAW_KERNELS = ("test_cross_entropy_forward_kernel",
                     "test_pack_and_unpack_in_one_launch", "test_fused_kernels_are_used_on_the_gpu", "real_gpu")


def pytest_collection_modifyitems(items):
    skip = pytest.mark.skip(reason="raw CUDA kernels (warp shuffles) and CuPy's memory pool need a real GPU")
    for item in items:
        if any(word in item.nodeid for word in NEEDS_RAW_KERNELS):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """One line naming each elementwise kernel run and how often, for the test that started this run."""
    from cupy._cpu_elementwise import RUNS
    terminalreporter.write_line("cpu kernels run: " + " ".join(f"{k}={n}" for k, n in sorted(RUNS.items())))
