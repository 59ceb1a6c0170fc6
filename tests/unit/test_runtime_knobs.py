"""The names PyTorch scripts call in their opening lines: thread counts, determinism, float32
matmul precision, torch.cuda's Event and device queries, pin_memory/is_pinned/data_ptr,
torch.testing.assert_close and torch.utils.checkpoint; compared with PyTorch where it runs here.
The CUDA queries run against a small CuPy stand-in (the fake CuPy of tests/gpu has no events'
``done``, memory pool or compute capability)."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import distgrad as dg
from distgrad import backend, runtime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _outcome(fn):
    """(exception type name, message) of a call, or ("ok", result)."""
    try:
        return "ok", fn()
    except Exception as e:  # noqa: BLE001  (compared, whatever it is)
        return type(e).__name__, str(e)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def restore_knobs():
    threads = dg.get_num_threads()
    yield
    dg.set_num_threads(threads)
    dg.use_deterministic_algorithms(False)
    dg.set_float32_matmul_precision("highest")


# ----------------------------------------------------------------- threads
@pytest.mark.parametrize("name", ["set_num_threads", "set_num_interop_threads"])
@pytest.mark.parametrize("n", [0, -1, 1.5, "2", True])
def test_thread_counts_are_refused_as_pytorch_refuses_them(torch, name, n):
    expected = _outcome(lambda: getattr(torch, name)(n))
    assert expected[0] == "RuntimeError"
    assert _outcome(lambda: getattr(dg, name)(n)) == expected


def test_set_num_threads_sizes_numpys_blas_pool():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    dg.set_num_threads(1)
    assert dg.get_num_threads() == 1
    blas = [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert blas and set(blas) == {1}
    dg.set_num_threads(2)
    assert dg.get_num_threads() == 2
    a = dg.randn(64, 64)
    np.testing.assert_allclose((a @ a).numpy(), a.numpy() @ a.numpy(), rtol=1e-5)


def test_without_threadpoolctl_the_count_in_effect_is_reported_and_setting_it_warns(monkeypatch):
    monkeypatch.setattr(runtime, "threadpoolctl", None)
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert dg.get_num_threads() == 3
    with pytest.warns(RuntimeWarning, match="threadpoolctl is not installed, so NumPy's BLAS keeps its 3 threads"):
        dg.set_num_threads(1)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert dg.get_num_threads() == (os.cpu_count() or 1)


def test_there_is_one_interop_thread():
    dg.set_num_interop_threads(4)
    assert dg.get_num_interop_threads() == 1


# ----------------------------------------------------------------- determinism
@pytest.mark.parametrize("mode,warn_only", [(True, False), (True, True), (False, True), (False, False)])
def test_deterministic_flags_read_back_as_in_pytorch(torch, mode, warn_only):
    try:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        expected = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    finally:
        torch.use_deterministic_algorithms(False)
    dg.use_deterministic_algorithms(mode, warn_only=warn_only)
    assert (dg.are_deterministic_algorithms_enabled(), dg.is_deterministic_algorithms_warn_only_enabled()) == expected


@pytest.mark.parametrize("args,kwargs", [((1,), {}), (("yes",), {}), ((True,), {"warn_only": 1})])
def test_deterministic_flags_must_be_bools(torch, args, kwargs):
    kind, message = _outcome(lambda: torch.use_deterministic_algorithms(*args, **kwargs))
    assert kind == "TypeError"
    with pytest.raises(TypeError) as caught:
        dg.use_deterministic_algorithms(*args, **kwargs)
    assert str(caught.value).split("(): ", 1)[1] == message.split("(): ", 1)[1]  # torch's names its C++ entry
    with pytest.raises(TypeError):
        dg.use_deterministic_algorithms(True, True)  # warn_only is keyword-only


def test_a_nondeterministic_op_raises_warns_or_runs_as_asked():
    runtime.alert_not_deterministic("scatter_add (CuPy atomics)")  # determinism not asked: nothing
    dg.use_deterministic_algorithms(True)
    with pytest.raises(RuntimeError, match=r"^scatter_add \(CuPy atomics\) does not have a deterministic "
                                            r"implementation.*'warn_only=True'"):
        runtime.alert_not_deterministic("scatter_add (CuPy atomics)")
    dg.use_deterministic_algorithms(True, warn_only=True)
    with pytest.warns(UserWarning, match="^scatter_add .* does not have a deterministic implementation"):
        runtime.alert_not_deterministic("scatter_add (CuPy atomics)")


# ----------------------------------------------------------------- float32 matmul precision
def test_matmul_precision_values_as_pytorch(torch):
    before = torch.get_float32_matmul_precision()
    try:
        for value in ("high", "medium", "highest"):
            torch.set_float32_matmul_precision(value)
            dg.set_float32_matmul_precision(value)
            assert dg.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == value
        dg.set_float32_matmul_precision("high")
        with pytest.warns(UserWarning, match="HIGH is not one of 'highest', 'high', or 'medium'"):
            dg.set_float32_matmul_precision("HIGH")
        assert dg.get_float32_matmul_precision() == "high"
        assert _outcome(lambda: dg.set_float32_matmul_precision(1)) == \
            _outcome(lambda: torch.set_float32_matmul_precision(1))
    finally:
        torch.set_float32_matmul_precision(before)


# ----------------------------------------------------------------- distgrad.cuda
class _StubEvent:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.options, self.at, self.done = (block, disable_timing, interprocess), None, False

    def record(self, stream=None):
        self.at = len(_StubCupy.log)
        _StubCupy.log.append(("record", stream))

    def synchronize(self):
        self.done = True


class _StubCupy:
    """What distgrad.cuda asks of CuPy for one GPU: an H200's properties, events, the pool."""
    log = []
    ndarray = type("ndarray", (), {})

    def __init__(self):
        _StubCupy.log = []
        properties = {"name": b"NVIDIA H200", "totalGlobalMem": 150_754_820_096, "major": 9, "minor": 0,
                      "multiProcessorCount": 132}
        self.cuda = types.SimpleNamespace(
            runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, getDeviceProperties=lambda i: properties),
            Device=lambda index=None: types.SimpleNamespace(id=0), Event=_StubEvent,
            get_elapsed_time=lambda start, end: 2.5 * (end.at - start.at))
        pool = types.SimpleNamespace(free_all_blocks=lambda: _StubCupy.log.append(("free_all_blocks",)))
        self.get_default_memory_pool = lambda: pool


@pytest.fixture
def one_gpu(monkeypatch):
    cupy = _StubCupy()
    monkeypatch.setattr(backend, "cupy", cupy)
    return cupy


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(backend, "cupy", None)


def test_device_properties_and_capability_on_a_gpu(one_gpu):
    props = dg.cuda.get_device_properties(0)
    assert (props.name, props.total_memory, props.major, props.minor, props.multi_processor_count) == \
        ("NVIDIA H200", 150_754_820_096, 9, 0, 132)
    assert repr(props) == ("_CudaDeviceProperties(name='NVIDIA H200', major=9, minor=0, total_memory=143771MB, "
                           "multi_processor_count=132)")
    for device in (None, "cuda", "cuda:0", dg.device("cuda", 0)):
        assert dg.cuda.get_device_capability(device) == (9, 0)
    with pytest.raises(AssertionError, match="Invalid device id"):
        dg.cuda.get_device_properties(1)


def test_events_time_and_report_the_work_between_them(one_gpu):
    start, end = dg.cuda.Event(enable_timing=True), dg.cuda.Event(enable_timing=True, blocking=True)
    assert end._event.options == (True, False, False)
    with pytest.raises(RuntimeError, match="Both events must be recorded"):
        start.elapsed_time(end)
    start.record()
    end.record()
    assert not end.query()
    end.synchronize()
    assert end.query()
    assert start.elapsed_time(end) == 2.5
    untimed = dg.cuda.Event()
    assert untimed._event.options == (False, True, False)
    untimed.record()
    with pytest.raises(RuntimeError, match="enable_timing=True"):
        start.elapsed_time(untimed)


def test_empty_cache_frees_cupys_pool(one_gpu):
    dg.cuda.empty_cache()
    assert _StubCupy.log == [("free_all_blocks",)]


def test_without_a_gpu_the_queries_raise_and_empty_cache_does_nothing(no_gpu):
    assert dg.cuda.empty_cache() is None
    for call in (dg.cuda.get_device_properties, dg.cuda.get_device_capability, dg.cuda.Event):
        with pytest.raises(RuntimeError, match="needs a CUDA GPU, and none is available"):
            call()


# ----------------------------------------------------------------- pin_memory, is_pinned, data_ptr
def test_pin_memory_gives_the_tensor_back_unpinned(torch):
    x = dg.arange(6.0).reshape(2, 3)
    assert x.pin_memory() is x
    assert x.is_pinned() is False and torch.arange(6.0).is_pinned() is False
    moved = x.pin_memory().to("cpu", non_blocking=True)
    np.testing.assert_array_equal(moved.numpy(), np.arange(6.0).reshape(2, 3))


def test_data_ptr_is_the_first_elements_address(torch):
    x, t = dg.arange(12.0).reshape(3, 4), torch.arange(12.0).reshape(3, 4)
    assert x.data_ptr() == x.numpy().__array_interface__["data"][0]
    for index in ((1,), (slice(None), 2), (slice(1, None, 2),)):
        assert x[index].data_ptr() - x.data_ptr() == t[index].data_ptr() - t.data_ptr()
    assert x.view(12).data_ptr() == x.data_ptr() != x.clone().data_ptr()


def test_gpu_tensors_give_their_device_address_and_refuse_pinning_on_the_numpy_backed_cupy():
    script = ("import distgrad\n"
              "x = distgrad.arange(4.0).cuda()\n"
              "assert x.is_cuda and x.data_ptr() == x.array.data.ptr and x[1:].data_ptr() - x.data_ptr() == 4\n"
              "assert x.is_pinned() is False\n"
              "x.pin_memory()\n")
    fake = os.path.join(ROOT, "tests", "gpu", "fake_cupy")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((fake, ROOT)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1] == (
        "RuntimeError: cannot pin a cuda:0 tensor: only dense CPU tensors can be pinned"), out.stderr


# ----------------------------------------------------------------- distgrad.testing.assert_close
def _as(module, value):
    """A nested value with np.ndarray leaves turned into ``module``'s tensors."""
    if isinstance(value, np.ndarray):
        return module.tensor(value)
    if isinstance(value, dict):
        return {k: _as(module, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_as(module, v) for v in value)
    return value


f32, f64, i64 = np.float32, np.float64, np.int64
ASSERT_CLOSE_CASES = [
    (np.array([1, 2, 3], f32), np.array([1, 2.5, 3], f32), {}),
    (np.array([[1, 2], [3, 4]], f32), np.array([[1, 2], [3, 4.5]], f32), {}),
    (np.array([1, 2, 3, 4, 5, 6], f32), np.array([1.1, 2, 3, 4, 5, 6.6], f32), {}),
    (np.array([1, 2, 3], i64), np.array([1, 4, 3], i64), {}),
    (np.array([True]), np.array([False]), {}),
    (np.array([0, 1], f32), np.array([1, 0], f32), {}),
    (np.array([np.nan], f32), np.array([np.nan], f32), {}),
    (np.array([np.nan], f32), np.array([np.nan], f32), {"equal_nan": True}),
    (np.array([np.inf, 1], f64), np.array([np.inf, 1], f64), {}),
    (np.array([1, 0], f32), np.array([1, 1e-6], f32), {}),
    (np.array(1, f32), np.array(2, f32), {}),
    (np.array([1, 2], f32), np.array([1, 2.5], f32), {"rtol": 0.1, "atol": 0.0}),
    (np.array([1, 2], i64), np.array([1, 5], i64), {"rtol": 0, "atol": 0}),
    (np.array([1], f32), np.array([1], f64), {}),
    (np.array([1, 2], f32), np.array([1, 2.1], f64), {"check_dtype": False}),
    (np.array([1, 2], np.int32), np.array([1, 5], i64), {"check_dtype": False}),
    (np.array([1], f32), np.array([1, 2], f32), {}),
    (np.array([1], f32), np.array([1.0005], np.float16), {"check_dtype": False}),
    (np.array([1], np.float16), np.array([1.0005], np.float16), {}),
    (np.array([1, 0], f32), np.array([2, 0], f32), {"msg": "custom"}),
    (np.array([1, 0], f32), np.array([2, 0], f32), {"msg": lambda m: "X" + m}),
    (np.array([1], f32), np.array([2], f32), {"rtol": 1e-3}),
    (np.array([1], f32), [1.0], {}),
    (np.array([1], f32), 1.0, {}),
    (1.5, 1.0, {}), (1, 2, {}), (1, 1.0, {}), (True, False, {}), (2.0, 0.0, {}), ("a", "a", {}),
    ([1.0, 2.0], [1.0, 2.0], {}), ([1.0, 2.0], [1.0, 2.0, 3.0], {}), ((1.0,), [1.0], {}),
    ([np.array([1], f32), 2.0], [np.array([1], f32), 2.5], {}),
    ({"a": [1.0, 2.0]}, {"a": [1.0, 3.0]}, {}),
    ({"a": 1.0, "b": 2.0}, {"a": 1.0, "c": 2.0}, {}),
    ({"w": [np.array([[1, 2]], f32)]}, {"w": [np.array([[1, 3]], f32)]}, {}),
]


@pytest.mark.parametrize("actual,expected,options", ASSERT_CLOSE_CASES)
def test_assert_close_passes_and_fails_with_pytorchs_messages(torch, actual, expected, options):
    want = _outcome(lambda: torch.testing.assert_close(_as(torch, actual), _as(torch, expected), **options))
    got = _outcome(lambda: dg.testing.assert_close(_as(dg, actual), _as(dg, expected), **options))
    if want[0] != "ok":  # PyTorch's class and dtype names are distgrad's here
        want = want[0], want[1].replace("torch.Tensor", "distgrad.tensor.Tensor").replace("torch.", "")
    assert got == want


def test_assert_close_compares_gpu_placement_and_numpy_arrays():
    dg.testing.assert_close(np.arange(3.0), np.arange(3.0))
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 3"):
        dg.testing.assert_close(np.arange(3.0), np.array([0.0, 1.0, 3.0]))
    with pytest.raises(TypeError, match="No comparison pair"):
        dg.testing.assert_close(dg.arange(3.0), np.arange(3.0))


# ----------------------------------------------------------------- torch.utils.checkpoint
def test_utils_checkpoint_resolves_after_import_distgrad_alone():
    script = ("import distgrad\n"
              "m = distgrad.utils.checkpoint\n"
              "x = distgrad.ones(3, requires_grad=True)\n"
              "y = m.checkpoint(lambda t: (t * t).sin(), x, use_reentrant=False)\n"
              "y.sum().backward()\n"
              "print(m.__name__, m.checkpoint.__module__, hasattr(m, 'Checkpointer'), x.grad.tolist())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    name, function_module, has_checkpointer, grad = out.stdout.split(" ", 3)
    assert (name, function_module, has_checkpointer) == (
        "distgrad.utils.checkpoint", "distgrad.utils.activation_checkpoint", "True")
    np.testing.assert_allclose(eval(grad), 2 * np.cos(1.0), rtol=1e-6)


def test_activation_checkpoint_and_checkpoint_files_stay_apart(tmp_path):
    from distgrad.utils import activation_checkpoint
    assert dg.utils.checkpoint.checkpoint is activation_checkpoint.checkpoint
    assert dg.utils.checkpoint.checkpoint_sequential is activation_checkpoint.checkpoint_sequential
    model = dg.nn.Linear(2, 1)
    path = dg.utils.checkpoint.Checkpointer(str(tmp_path)).save(1, 5, model)
    assert os.path.basename(path) == "checkpoint-0001-00000005.dgc" and os.path.exists(path)
