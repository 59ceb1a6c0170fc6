"""distgrad: data-parallel training on NumPy and CuPy with a PyTorch-compatible API.

    import distgrad as torch, distgrad.nn as nn, distgrad.optim as optim
"""
from . import dtypes
from .backend import device
from . import cuda  # noqa: E402  (the package: torch.cuda-style queries, GPU-only code)
from .dtypes import (bfloat16, bool, double, float, float16, float32, float64, get_default_dtype, half, int,
                     int8, int16, int32, int64, long, set_default_dtype, short, uint8)
from .function import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Size, Tensor
from .ops import *  # noqa: F401,F403  (the functional API)
from .ops import abs, all, any, max, min, pow, round, sum  # noqa: F401  (names shadowing builtins)
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor,
                       zeros, zeros_like)
from .creation import logspace  # noqa: E402
from . import linalg  # noqa: E402,F401  (torch.linalg's place: norms, inv, det, solve)
from .random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .serialization import load as _load, save as _save
from . import autograd, data, nn, optim, utils  # noqa: E402
from . import accelerator, backends, multiprocessing, onnx  # noqa: E402,F401
from . import memory  # noqa: E402,F401  (host memory counts: distgrad.memory.max_allocated())
from . import amp  # noqa: E402,F401  (torch.amp's place: autocast, GradScaler)
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402,F401
from . import profiler  # noqa: E402,F401  (torch.profiler's place: distgrad.profiler.profile())
from .autograd import inference_mode, is_inference_mode_enabled  # noqa: E402,F401
from .utils.logging import get_logger as _get_logger  # noqa: E402
from . import testing  # noqa: E402,F401  (torch.testing's place: assert_close)
from .runtime import (are_deterministic_algorithms_enabled, get_float32_matmul_precision,  # noqa: E402,F401
                      get_num_interop_threads, get_num_threads, is_deterministic_algorithms_warn_only_enabled,
                      set_float32_matmul_precision, set_num_interop_threads, set_num_threads,
                      use_deterministic_algorithms)

__version__ = "0.1.0"


def compile(model=None, **options):
    """PyTorch's torch.compile: distgrad compiles nothing, so the model (or function) comes back
    unchanged, with one info line saying so. Also usable as ``@compile`` or ``@compile(...)``."""
    if model is None:
        return lambda fn: compile(fn, **options)
    _get_logger().info("distgrad.compile: nothing to compile; %s runs eagerly, unchanged",
                       type(model).__name__)
    return model


def randint_like(input, low=0, high=None, *, dtype=None, device=None):
    """Random integers in [low, high) (``randint_like(x, high)`` too) of input's shape and dtype."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype,
                   device=device or input.device)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def is_floating_point(input):
    return input.is_floating_point()


# dtypes are NumPy's: their limits (finfo(float32).eps, iinfo(int64).max) and their type are NumPy's too
from numpy import dtype, finfo, iinfo  # noqa: E402,F401


def save(obj, path):
    return _save(obj, path)


def load(path, map_location=None, weights_only=True):
    return _load(path, map_location=map_location)
from . import distributed  # noqa: E402,F401  (torch.distributed's place; importing it starts no MPI)
# Aliases that sit above distributed (DDP) and data; loaded here, as torch loads torch.utils.data:
from .nn import parallel as _parallel  # noqa: E402  (distgrad.nn.parallel: DistributedDataParallel)
from .utils import data as _utils_data  # noqa: E402  (distgrad.utils.data)
from .utils import checkpoint as _utils_checkpoint  # noqa: E402  (torch.utils.checkpoint's place, over the world)
del _parallel, _utils_data, _utils_checkpoint
# A rank of an MPI job that fails before it starts distributed work still ends the job:
from .world import first_line as _first_line  # noqa: E402
_first_line.install()
