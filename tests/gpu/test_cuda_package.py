"""distgrad.cuda on any machine: it imports without CuPy, keeps torch.cuda's queries when its
submodules are imported, the packing helpers' array-by-array path, the fused bias+ReLU's
CPU fallback, and gpu_check's clear refusal where there is no GPU."""
import os
import subprocess
import sys

import numpy as np
import pytest

import distgrad as dg
from distgrad import backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cuda_namespace_answers_the_same_after_importing_the_kernels():
    import distgrad.cuda.kernels  # noqa: F401  (makes the package the distgrad.cuda attribute)
    import distgrad.cuda.packing  # noqa: F401
    for query in ("is_available", "device_count", "current_device"):
        assert getattr(dg.cuda, query)() == getattr(backend.cuda, query)(), query
    assert callable(dg.cuda.synchronize) and callable(dg.cuda.set_device)
    if not backend.cuda.is_available():
        assert dg.cuda.get_device_name() is None


def test_pack_and_unpack_numpy_arrays():
    from distgrad.cuda.packing import pack, unpack
    arrays = [np.arange(6.0).reshape(2, 3), np.array([7.0]), np.zeros((0, 2)), np.arange(4.0)[::2]]
    flat = np.full(10, -1.0)
    pack(arrays, flat)
    np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4, 5, 7, 0, 2, -1])
    targets = [np.empty_like(a) for a in arrays]
    unpack(flat, targets)
    for a, t in zip(arrays, targets):
        np.testing.assert_array_equal(t, a)


@pytest.mark.parametrize("arrays,flat,error,match", [
    ([np.ones(3), np.ones(4)], np.empty(6), ValueError, "2 arrays hold 7 elements but the flat buffer has 6"),
    ([np.ones(3, np.float32)], np.empty(3), TypeError, "float32 on cpu"),
    ([np.ones(3)], np.empty((3, 1)), ValueError, "must be 1-D"),
])
def test_pack_rejects_what_does_not_fit(arrays, flat, error, match):
    from distgrad.cuda.packing import pack, unpack
    with pytest.raises(error, match=match):
        pack(arrays, flat)
    with pytest.raises(error, match=match):
        unpack(flat, arrays)


def test_bias_relu_on_cpu_is_the_plain_ops():
    from distgrad.autograd import gradcheck
    from distgrad.cuda.fused_activation import bias_relu, linear_relu
    rng = np.random.default_rng(0)
    x, w, b = (dg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((4, 3), (5, 3), (5,)))
    y = linear_relu(x, w, b)
    np.testing.assert_allclose(y.detach().numpy(), np.maximum(x.detach().numpy() @ w.detach().numpy().T
                                                              + b.detach().numpy(), 0))
    assert gradcheck(lambda a, c: bias_relu(a, c), [dg.tensor(rng.standard_normal((4, 5)), requires_grad=True), b])


@pytest.mark.skipif(backend.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_gpu_check_says_no_gpu_and_exits_non_zero_without_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "no NVIDIA GPU" in text and "Traceback" not in text, text
