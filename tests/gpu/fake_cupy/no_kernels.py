"""With the NumPy-backed CuPy of this folder: the generic (non-kernel) paths, and the tests that
need real kernels skipped. Loaded by sitecustomize.py in every process (mpiexec's ranks too)
and as a pytest plugin (-p no_kernels)."""
import pytest

from distgrad.cuda import fused_loss, kernels

kernels.fusable = lambda *arrays: False
kernels.can_copy_segments = lambda arrays, flat: False
fused_loss.supports = lambda input: False

# tests named with "real_gpu" need what the stand-in lacks besides kernels (CuPy's memory pool)
NEEDS_KERNELS = ("test_gpu_kernels.py", "fused", "bit_for_bit", "real_gpu")


def pytest_collection_modifyitems(items):
    skip = pytest.mark.skip(reason="the NumPy-backed CuPy runs no CUDA kernels and has no memory pool")
    for item in items:
        if any(word in item.nodeid for word in NEEDS_KERNELS):
            item.add_marker(skip)
