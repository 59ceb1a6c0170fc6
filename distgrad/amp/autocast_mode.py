"""Autocast: within ``with autocast(device_type, dtype):`` the matmul-class ops run in the low
dtype and the precision-hungry ones in float32, after PyTorch's op lists for that device.

The ops consult this module in their public functions, before their Function is applied,
so the cast is part of the graph and each gradient comes back in its input's dtype. When
autocast is off that costs one read of ``active``.

Only floating tensors that are not float64 are cast, as in PyTorch. NumPy has no bfloat16,
so distgrad's low dtype is float16 (on the CPU as on the GPU); bfloat16 is refused with a
message saying so.
"""
import functools
import warnings

import numpy

from .. import dtypes
from ..backend import cuda as _cuda_queries

active = False  # any device type under autocast: the one read the ops make when it is off

_DEFAULT_DTYPES = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}  # PyTorch's defaults
_state = {"cpu": (False, _DEFAULT_DTYPES["cpu"]), "cuda": (False, _DEFAULT_DTYPES["cuda"])}

# Ops run in float32 under autocast, per device type (PyTorch's lists, for the ops distgrad has).
_LOSSES = frozenset({"cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                     "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "triplet_margin_loss",
                     "poisson_nll_loss", "hinge_embedding_loss", "soft_margin_loss", "multi_margin_loss",
                     "multilabel_margin_loss"})
_FLOAT32_OPS = {
    "cpu": _LOSSES,
    "cuda": _LOSSES | {"softmax", "log_softmax", "layer_norm", "group_norm"},
}


def _device_type(device_type):
    name = str(device_type).split(":")[0]
    if name not in _state:
        raise RuntimeError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
    return name


def _low_dtype(dtype, device_type):
    if dtype is dtypes.bfloat16 or str(dtype) == "bfloat16":
        raise RuntimeError(
            f"autocast('{device_type}'): bfloat16 needs bfloat16 arrays, which NumPy lacks and distgrad does "
            f"not provide (ml_dtypes adds the type to NumPy, but distgrad's ops do not use it); pass "
            f"dtype=distgrad.float16, which autocast supports on the CPU and the GPU")
    dtype = numpy.dtype(dtype)
    if dtype != numpy.float16:
        raise RuntimeError(f"autocast('{device_type}'): the low-precision dtype must be float16, got {dtype}")
    return dtype


class autocast:
    """PyTorch's torch.autocast: a context manager (re-entrant, nestable) and a decorator."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self.device = _device_type(device_type)
        self._enabled = bool(enabled)
        if self._enabled and self.device == "cuda" and not _cuda_queries.is_available():
            warnings.warn("autocast: device_type 'cuda' was asked for, but CUDA is not available; disabling")
            self._enabled = False
        # the cast cache of PyTorch is an optimisation; distgrad casts each time
        self._cache_enabled = cache_enabled
        requested = _DEFAULT_DTYPES[self.device] if dtype is None else dtype
        self.fast_dtype = _low_dtype(requested, self.device) if self._enabled else requested
        self._saved = []

    def __enter__(self):
        self._saved.append(_state[self.device])
        _set(self.device, self._enabled, self.fast_dtype)
        return self

    def __exit__(self, *exc):
        _set(self.device, *self._saved.pop())
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def under_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return under_autocast


def _set(device, enabled, dtype):
    global active
    _state[device] = (enabled, dtype)
    active = any(on for on, _ in _state.values())


def is_autocast_enabled(device_type="cuda"):
    """Whether autocast is on for ``device_type`` (PyTorch's default: "cuda")."""
    return _state[_device_type(device_type)][0]


def get_autocast_dtype(device_type):
    dtype = _state[_device_type(device_type)][1]
    return dtype if dtype is dtypes.bfloat16 else numpy.dtype(dtype)


def _autocast_device(tensors):
    """The device type of the first tensor when autocast is on for it, else None."""
    for t in tensors:
        if t is not None and hasattr(t, "array"):
            device = "cuda" if t.is_cuda else "cpu"
            return device if _state[device][0] else None
    return None


def _cast(tensors, dtype):
    return tuple(t.to(dtype) if _eligible(t, dtype) else t for t in tensors)


def _eligible(t, dtype):
    if t is None or not hasattr(t, "array"):
        return False
    own = t.array.dtype
    return own.kind == "f" and own != numpy.float64 and own != dtype


def to_low(*tensors):
    """``tensors`` for a matmul-class op: float32/float16 ones in the low dtype."""
    device = _autocast_device(tensors)
    return tensors if device is None else _cast(tensors, _state[device][1])


def to_float32(op, *tensors):
    """``tensors`` for op ``op``: in float32 when the device's list has ``op``."""
    device = _autocast_device(tensors)
    if device is None or op not in _FLOAT32_OPS[device]:
        return tensors
    return _cast(tensors, numpy.dtype(numpy.float32))
