"""Tensor factories: tensor, zeros, ones, rand, arange, ... (PyTorch's signatures)."""
import numpy

from . import dtypes
from .backend import module_for
from .random import generator_for
from .ops._util import shape_arg
from .tensor import Tensor


def tensor(data, dtype=None, device=None, requires_grad=False):
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """``data`` itself, or a tensor sharing its memory (a NumPy array on the CPU), when no
    conversion is needed; else a copy, as torch.as_tensor."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    if (isinstance(data, numpy.ndarray) and data.dtype.kind in "biuf" and device in (None, "cpu")
            and (dtype is None or dtypes.to_dtype(dtype) == data.dtype)):
        return Tensor._wrap(data)
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with the NumPy array, as torch.from_numpy."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def _make(fill, shape, dtype, device, requires_grad, default=None):
    xp = module_for(device)
    dtype = dtypes.to_dtype(dtype) or default or dtypes.get_default_dtype()
    t = Tensor._wrap(fill(xp, shape_arg(shape), dtype))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.zeros(s, dtype=d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.ones(s, dtype=d), shape, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.empty(s, dtype=d), shape, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    default = dtypes.int64 if isinstance(fill_value, int) and not isinstance(fill_value, bool) else None
    if isinstance(fill_value, bool):
        default = dtypes.bool
    return _make(lambda xp, s, d: xp.full(s, fill_value, dtype=d), (size,), dtype, device,
                 requires_grad, default)


def _like(maker):
    def like(input, dtype=None, device=None, requires_grad=False):
        return maker(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                     requires_grad=requires_grad)
    return like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)


def full_like(input, fill_value, dtype=None, device=None):
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    xp = module_for(device)
    is_int = all(isinstance(v, int) for v in (start, end, step))
    dtype = dtypes.to_dtype(dtype) or (dtypes.int64 if is_int else dtypes.get_default_dtype())
    t = Tensor._wrap(xp.arange(start, end, step).astype(dtype))
    return t.requires_grad_(True) if requires_grad else t


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    xp = module_for(device)
    t = Tensor._wrap(xp.linspace(start, end, steps).astype(dtypes.to_dtype(dtype) or dtypes.get_default_dtype()))
    return t.requires_grad_(True) if requires_grad else t


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """``base ** linspace(start, end, steps)``: ``steps`` points evenly spaced on a log scale."""
    xp = module_for(device)
    t = Tensor._wrap(xp.logspace(start, end, steps, base=base).astype(
        dtypes.to_dtype(dtype) or dtypes.get_default_dtype()))
    return t.requires_grad_(True) if requires_grad else t


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    xp = module_for(device)
    t = Tensor._wrap(xp.eye(n, m, dtype=dtypes.to_dtype(dtype) or dtypes.get_default_dtype()))
    return t.requires_grad_(True) if requires_grad else t


def _random(draw):
    def factory(*shape, dtype=None, device=None, requires_grad=False, generator=None):
        def fill(xp, s, d):
            rng = generator.rng if generator is not None else generator_for(xp)
            return draw(rng, s).astype(d, copy=False)
        return _make(fill, shape, dtype, device, requires_grad)
    return factory


rand = _random(lambda rng, s: rng.random(s))
randn = _random(lambda rng, s: rng.standard_normal(s))


def randint(low, high=None, size=None, dtype=None, device=None, generator=None):
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size), as PyTorch's
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=size)
        low, high = 0, low
    if size is None:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got low={low!r}, high={high!r}, "
                        f"size={size!r}")
    xp = module_for(device)
    rng = generator.rng if generator is not None else generator_for(xp)
    array = (rng.integers(low, high, size=tuple(size)) if hasattr(rng, "integers")
             else rng.randint(low, high, size=tuple(size)))
    return Tensor._wrap(array.astype(dtypes.to_dtype(dtype) or dtypes.int64))


def randperm(n, dtype=None, device=None, generator=None):
    xp = module_for(device)
    rng = generator.rng if generator is not None else generator_for(xp)
    return Tensor._wrap(rng.permutation(n).astype(dtypes.to_dtype(dtype) or dtypes.int64))


def rand_like(input, dtype=None):
    return rand(input.shape, dtype=dtype or input.dtype, device=input.device)


def randn_like(input, dtype=None):
    return randn(input.shape, dtype=dtype or input.dtype, device=input.device)
