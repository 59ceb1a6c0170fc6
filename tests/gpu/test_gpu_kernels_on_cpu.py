"""distgrad's fused elementwise kernels executed on the CPU: under the NumPy-backed CuPy of
fake_cupy/ with DISTGRAD_FAKE_CUPY_CPU_KERNELS=1, cupy.ElementwiseKernel compiles each kernel's
CUDA body with g++ (cupy/_cpu_elementwise.py), so the kernels' math runs without a GPU:
against the reference formulas of test_gpu_kernels.py, and inside the GPU tests of training,
optimizers, sequence models, layers, autocast and models, where distgrad takes its fused paths.
The raw kernels (cross-entropy forward, bucket packing) and CUDA's own math library still need
a card. The tests marked gpu below check the stand-in kernel itself and run in that subprocess."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import distgrad
from distgrad.cuda import kernels

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FAKE = os.path.join(HERE, "fake_cupy")
ON_CPU_KERNELS = bool(os.environ.get("DISTGRAD_FAKE_CUPY_CPU_KERNELS"))
END_TO_END = ["test_gpu_training.py", "test_gpu_optim.py", "test_gpu_sequence_models.py", "test_gpu_layers.py",
              "test_gpu_autocast.py", "test_gpu_models.py"]

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed: it compiles the kernels")
no_real_gpu = pytest.mark.skipif(distgrad.cuda.is_available(),
                                 reason="a real GPU is here: test_gpu_kernels.py runs the kernels on it")
# the tests of the stand-in's ElementwiseKernel: only inside the subprocess, on the NumPy-backed CuPy
stand_in_only = pytest.mark.skipif(not ON_CPU_KERNELS, reason="needs the NumPy-backed CuPy with its CPU kernels")


def run_with_cpu_kernels(files):
    """pytest -m gpu over ``files`` on the stand-in with the CPU kernels: (output, {distgrad kernel: runs})."""
    env = dict(os.environ, DISTGRAD_FAKE_CUPY_CPU_KERNELS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (FAKE, ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("DISTGRAD_FAKE_CUPY_NO_KERNELS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "cpu_kernels", "-p", "no:cacheprovider",
                           "-W", "ignore::pytest.PytestAssertRewriteWarning", "-m", "gpu",
                           *(os.path.join(HERE, f) for f in files)],
                          capture_output=True, text=True, timeout=200, env=env, cwd=ROOT)
    tail = "\n".join(proc.stdout.splitlines()[-40:]) + proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
    summary = re.search(r"^cpu kernels run: (.*)$", proc.stdout, re.M)
    assert summary, tail
    runs = dict((name, int(n)) for name, n in (item.split("=") for item in summary.group(1).split()))
    return proc.stdout, {name[len("distgrad_"):]: n for name, n in runs.items() if name.startswith("distgrad_")}


@pytest.mark.timeout(240)
@needs_gxx
@no_real_gpu
def test_every_elementwise_kernel_matches_its_reference_on_the_cpu():
    out, runs = run_with_cpu_kernels(["test_gpu_kernels.py", os.path.basename(__file__)])
    assert set(runs) == set(kernels.ELEMENTWISE), f"kernels not run: {set(kernels.ELEMENTWISE) - set(runs)}"
    # the tests of test_gpu_kernels.py that need no raw kernel (44 today) and the 7 of this file
    passed = int(re.search(r"(\d+) passed", out).group(1))
    assert passed >= 51, out[-2000:]


@pytest.mark.timeout(240)
@needs_gxx
@no_real_gpu
def test_gpu_tests_pass_with_the_fused_kernels_running_on_the_cpu():
    # bias + ReLU is reached only through linear_relu (test_gpu_kernels.py); the fused
    # cross-entropy only behind its raw forward kernel (its backward is checked there too)
    _, runs = run_with_cpu_kernels(END_TO_END)
    fused_paths = {"sgd", "sgd_momentum", "adam", "adam_amsgrad", "lstm_cell_forward", "lstm_cell_backward",
                   "lstm_cell_backward_projected", "gelu", "gelu_tanh"}
    assert fused_paths <= set(runs), f"fused paths not taken: {fused_paths - set(runs)}"


# ----------------------------------------------------------------- the stand-in's ElementwiseKernel
def stand_in_kernel(in_params, out_params, body):
    import cupy
    return cupy.ElementwiseKernel(in_params, out_params, body, name="probe")


@pytest.mark.gpu
@stand_in_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_broadcasts_casts_scalars_and_allocates_its_output(dtype):
    import cupy
    y = np.arange(12, dtype=dtype).reshape(3, 4)
    b = np.array([1, -2, 3, -40], dtype)
    kernel = stand_in_kernel("T y, T b, T scale, bool negate", "T out", "out = (negate ? -(y + b) : y + b) * scale;")
    out = kernel(cupy.asarray(y), cupy.asarray(b), 0.1, True)
    assert isinstance(out, cupy.ndarray) and out.shape == (3, 4) and out.dtype == dtype
    np.testing.assert_array_equal(out.get(), -(y + b) * dtype(0.1))  # the scalar rounded to T first, as on a card


@pytest.mark.gpu
@stand_in_only
def test_kernel_reads_and_writes_outputs_given_as_strided_views():
    import cupy
    whole = cupy.asarray(np.arange(24, dtype=np.float32).reshape(3, 8))
    block = whole[:, 2:4]  # as the LSTM's gate blocks
    before = whole.get()
    returned = stand_in_kernel("T x", "T acc", "acc = acc * T(2) + x;")(cupy.full((3, 2), 0.5, np.float32), block)
    assert returned is block
    want = before.copy()
    want[:, 2:4] = before[:, 2:4] * 2 + 0.5
    np.testing.assert_array_equal(whole.get(), want)  # the other columns untouched


@pytest.mark.gpu
@stand_in_only
def test_kernel_reads_an_input_overlapping_its_output_as_it_was_before_the_launch():
    import cupy
    a = cupy.asarray(np.arange(6, dtype=np.float64))
    stand_in_kernel("T x", "T y", "y = x;")(a[:-1], a[1:])  # a loop reading its own writes: 0, 0, 0, ...
    np.testing.assert_array_equal(a.get(), [0, 0, 1, 2, 3, 4])


@pytest.mark.gpu
@stand_in_only
def test_kernel_indexes_raw_inputs_in_c_order():
    import cupy
    x = np.arange(12, dtype=np.float64).reshape(3, 4).T  # not contiguous: read in its logical order
    t = np.array([2, 0, 1], np.int64)
    grad = cupy.empty((3, 4), np.float64)
    stand_in_kernel("raw T x, raw I t, int64 c", "T grad", "long long row = i / c; grad = x[i] * T(t[row]);")(
        cupy.asarray(x), cupy.asarray(t), 4, grad)
    np.testing.assert_array_equal(grad.get(), x.reshape(3, 4) * t[:, None])


@pytest.mark.gpu
@stand_in_only
def test_kernel_has_cuda_math_names():
    import cupy
    import math
    x = np.array([-2.5, -0.3, 0.0, 0.7, 3.0])
    kernel = stand_in_kernel("T x", "T e, T th, T ex, T sq, T bad",
                             'e = erf(x); th = tanh(x); ex = exp(x); sq = sqrt(x * x); bad = T(nan(""));')
    e, th, ex, sq, bad = (a.get() for a in kernel(cupy.asarray(x)))
    np.testing.assert_allclose(e, [math.erf(v) for v in x], rtol=1e-15)
    np.testing.assert_allclose(th, np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(ex, np.exp(x), rtol=1e-15)
    np.testing.assert_array_equal(sq, np.abs(x))
    assert np.isnan(bad).all()


@pytest.mark.gpu
@stand_in_only
def test_kernel_refuses_what_cupy_refuses_or_it_does_not_support():
    import cupy
    add = stand_in_kernel("T a, T b", "T out", "out = a + b;")
    a = cupy.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="NumPy array"):
        add(a, np.ones(4, np.float32))
    with pytest.raises(TypeError, match="mismatched"):
        add(a, cupy.ones(4, np.float64))
    with pytest.raises(ValueError, match="do not broadcast"):
        add(a, cupy.ones(3, np.float32))
    with pytest.raises(ValueError, match="output out has shape"):
        add(a, cupy.ones(4, np.float32), cupy.empty((1, 4), np.float32))
    with pytest.raises(AssertionError, match="raw outputs are not supported"):
        stand_in_kernel("T a", "raw T out", "out[i] = a;")
    with pytest.raises(RuntimeError, match="g[+][+] could not compile"):
        stand_in_kernel("T a", "T out", "out = a +;")(a)
