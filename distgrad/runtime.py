"""Process-wide knobs that PyTorch training scripts set in their opening lines, with what they
can and cannot do here:

- ``set_num_threads`` / ``get_num_threads``: the threads of NumPy's BLAS (matmul, conv through
  im2col), the only intra-op parallelism on the CPU path. Changed through threadpoolctl when it
  is installed; without it the BLAS pool, sized at start-up, cannot be changed (a warning says so).
  GPU work (CuPy) is not affected.
- ``set_num_interop_threads`` / ``get_num_interop_threads``: distgrad runs one op at a time, so
  there is no inter-op pool: the count is validated and is 1.
- ``use_deterministic_algorithms``: NumPy ops are deterministic. On CuPy the accumulations done
  with atomic adds are not (float sums in whatever order the threads land): ``cupyx.scatter_add``,
  behind index_add, index_put(accumulate=True) and the backward of advanced indexing and
  embedding, and ``bincount`` with weights. ``alert_not_deterministic(op)`` is the check such an op
  makes before running: it raises (or warns with ``warn_only=True``) as PyTorch does for a CUDA op
  without a deterministic implementation.
- ``set_float32_matmul_precision``: validated and remembered, without effect: float32 matmuls
  stay float32 on NumPy, and CuPy's follow its own CUPY_TF32 environment variable (read at its
  first float32 product; TF32 with CUPY_TF32=1, full float32 otherwise), which distgrad leaves alone.
"""
import os
import warnings

from .utils.logging import get_logger

try:  # optional: the one portable way to resize a loaded BLAS's thread pool
    import threadpoolctl
except ImportError:
    threadpoolctl = None

_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
_PRECISIONS = ("highest", "high", "medium")
_state = {"deterministic": False, "warn_only": False, "matmul_precision": "highest"}


# ----------------------------------------------------------------- threads
def _positive_count(name, n):
    """PyTorch's checks and messages for a thread count."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise RuntimeError(f"{name} expects an int, but got {type(n).__name__}")
    if n < 1:
        raise RuntimeError(f"{name} expects a positive integer")
    return n


def _blas_pools():
    return threadpoolctl.threadpool_info() if threadpoolctl is not None else []


def set_num_threads(n):
    """Use ``n`` threads in NumPy's BLAS (torch.set_num_threads's place on the CPU path).

    Needs threadpoolctl; without it a loaded BLAS keeps the size it started with (set
    OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before starting Python) and a RuntimeWarning says so."""
    _positive_count("set_num_threads", n)
    if threadpoolctl is None:
        warnings.warn("set_num_threads: threadpoolctl is not installed, so NumPy's BLAS keeps its "
                      f"{get_num_threads()} threads; install threadpoolctl or set OMP_NUM_THREADS "
                      "before starting Python", RuntimeWarning, stacklevel=2)
        return
    threadpoolctl.threadpool_limits(limits=n, user_api="blas")  # kept: not used as a context manager


def get_num_threads():
    """The threads NumPy's BLAS uses now: as threadpoolctl reads them from the loaded library,
    else from the environment variables it started with, else the CPU count (BLAS's default)."""
    counts = [pool["num_threads"] for pool in _blas_pools() if pool.get("user_api") == "blas"]
    if counts:
        return max(counts)
    for variable in _BLAS_THREAD_VARIABLES:
        value = os.environ.get(variable, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def set_num_interop_threads(n):
    """Validated, and otherwise without effect: distgrad runs one op at a time (no inter-op
    thread pool), so ``get_num_interop_threads()`` stays 1."""
    _positive_count("set_num_interop_threads", n)
    if n != 1:
        get_logger().info("distgrad.set_num_interop_threads(%d): ops run one at a time; nothing to set", n)


def get_num_interop_threads():
    """1: distgrad runs one op at a time."""
    return 1


# ----------------------------------------------------------------- determinism
def _require_bool(function, argument, value):
    if not isinstance(value, bool):
        raise TypeError(f"{function}(): argument {argument} must be bool, not {type(value).__name__}")


def use_deterministic_algorithms(mode, *, warn_only=False):
    """As torch.use_deterministic_algorithms: with ``mode`` True an op that has no deterministic
    implementation (one that calls alert_not_deterministic) raises RuntimeError naming it (with
    ``warn_only=True``: a UserWarning, and the op runs). Only CuPy's atomic-add accumulations are
    such ops; everything on NumPy is deterministic. Matmuls on CuPy go through cuBLAS on one stream, deterministic on a given GPU,
    so CUBLAS_WORKSPACE_CONFIG is not required."""
    _require_bool("use_deterministic_algorithms", "'mode' (position 1)", mode)
    _require_bool("use_deterministic_algorithms", "'warn_only'", warn_only)
    _state["deterministic"], _state["warn_only"] = mode, warn_only


def are_deterministic_algorithms_enabled():
    return _state["deterministic"]


def is_deterministic_algorithms_warn_only_enabled():
    return _state["warn_only"]


def alert_not_deterministic(op):
    """Called by an op about to run a nondeterministic implementation (atomic adds on a GPU):
    raises, warns or does nothing as use_deterministic_algorithms asks."""
    if not _state["deterministic"]:
        return
    message = (f"{op} does not have a deterministic implementation, but you set "
               "'distgrad.use_deterministic_algorithms(True)'. You can turn off determinism just for "
               "this operation")
    if _state["warn_only"]:
        warnings.warn(message + ".", UserWarning, stacklevel=3)
        return
    raise RuntimeError(message + ", or you can use the 'warn_only=True' option, if that's acceptable "
                                 "for your application.")


# ----------------------------------------------------------------- matmul precision
def set_float32_matmul_precision(precision):
    """Remembered for get_float32_matmul_precision, and otherwise without effect: NumPy has no
    reduced-precision matmul, and CuPy's float32 matmuls use TF32 only when CUPY_TF32=1 is in
    the environment (full float32, "highest", otherwise). A value other than "highest", "high" or
    "medium" is ignored with a warning, as in PyTorch."""
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in _PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning, stacklevel=2)
        return
    _state["matmul_precision"] = precision


def get_float32_matmul_precision():
    """The last valid value given to set_float32_matmul_precision ("highest" at start)."""
    return _state["matmul_precision"]
