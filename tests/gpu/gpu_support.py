"""What the GPU tests share: the skip marker, moving inputs to the GPU, comparing with the CPU."""
import numpy as np
import pytest

import distgrad as dg

requires_gpu = pytest.mark.skipif(not dg.cuda.is_available(),
                                  reason="distgrad.cuda.is_available() is False: no NVIDIA GPU with CuPy here")
# pytestmark of a module whose every test needs the GPU
GPU_ONLY = [pytest.mark.gpu, requires_gpu]

# float32 on both devices: the GPU sums and multiplies in another order, so results agree to
# rounding, scaled by the largest magnitude (test_ops_common.assert_close's rule)
RTOL = 2e-4


def to_gpu(tensors):
    """Copies of CPU leaves on the GPU, each a leaf that wants a gradient when its source does."""
    return [dg.tensor(t.detach().numpy(), device="cuda", requires_grad=t.requires_grad) for t in tensors]


def host(value):
    """A tensor's values as a NumPy array (from either device)."""
    return value.detach().cpu().numpy()


def assert_matches_cpu(gpu_value, cpu_value, what, rtol=RTOL):
    from test_ops_common import assert_close
    assert gpu_value.is_cuda, f"{what}: the result is on {gpu_value.device}, not on the GPU"
    assert_close(host(gpu_value), cpu_value.detach().numpy(), rtol, what)


def upstream_like(outputs, seed):
    """One random upstream gradient per output that needs one, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(o.shape)).astype(o.dtype) for o in outputs]
