"""``distgrad.cuda``: GPU queries shaped like ``torch.cuda``, and the GPU-only code.

The queries never raise and need no CuPy: ``is_available()`` is simply False without it.
The fused CuPy kernels (kernels.py) and the ops built on them (fused_loss.py,
fused_activation.py, packing.py) import CuPy only when they are called on GPU arrays.

Importing a submodule (``distgrad.cuda.kernels``) makes this package ``distgrad.cuda``, so it
offers everything ``distgrad.backend.cuda`` offers, from the same functions.
"""
from ..backend import cuda as _queries
from ..backend import cupy as _cupy
from ..backend import device as _device

is_available = _queries.is_available
device_count = _queries.device_count
current_device = _queries.current_device
set_device = _queries.set_device
synchronize = _queries.synchronize


def get_device_name(device=None):
    """The GPU's name as the driver reports it ("NVIDIA H100 80GB HBM3"); None without a GPU."""
    if not is_available():
        return None
    index = None if device is None else _device(device).index
    index = current_device() if index is None else index
    name = _cupy.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def is_bf16_supported(including_emulation=True):
    """False: distgrad has no bfloat16 tensors (NumPy and CuPy arrays lack the type), so a
    program that picks bfloat16 when this says so picks float16 or float32 instead."""
    return False


def manual_seed_all(seed):
    """Seed the random generator of every GPU (distgrad.manual_seed seeds these and the CPU's);
    without a GPU there is nothing to seed, as in PyTorch."""
    for index in range(device_count()):
        with _cupy.cuda.Device(index):
            _cupy.random.seed(int(seed))


def manual_seed(seed):
    """Seed the current GPU's random generator; nothing without a GPU."""
    if is_available():
        _cupy.random.seed(int(seed))


from .memory import (max_memory_allocated, memory_allocated, memory_reserved, memory_stats,  # noqa: E402
                     reset_peak_memory_stats)
from . import amp  # noqa: E402,F401  (torch.cuda.amp's deprecated names)
# torch.cuda's Event and device queries on CuPy's runtime. Stream / current_stream are left out:
# distgrad runs every op on CuPy's current stream and takes no stream arguments.
from .events import Event, empty_cache, get_device_capability, get_device_properties  # noqa: E402,F401
