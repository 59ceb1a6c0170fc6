"""Counting and comparing values, as PyTorch's (integer or bool results, no gradient):
count_nonzero, argwhere, bincount, unique, isclose; and broadcast_tensors (views)."""
import numpy

from ..errors import OpRuntimeError
from ..runtime import alert_not_deterministic
from ._util import normalize_dim
from .elementwise import nonzero
from .shape import broadcast_to


def _broadcast_shape(op, *tensors):
    try:
        return numpy.broadcast_shapes(*(t.array.shape for t in tensors))
    except ValueError:
        raise OpRuntimeError(op, f"shapes do not broadcast: {[tuple(t.shape) for t in tensors]}") from None


def count_nonzero(input, dim=None):
    axes = normalize_dim(dim, input.ndim, "count_nonzero") if dim is not None else None
    if axes is not None and len(set(axes)) != len(axes):
        raise OpRuntimeError("count_nonzero", f"dim {dim} names a dimension more than once")
    array = input.array if input.ndim else input.array.reshape(1)
    return input._wrap(input.xp.asarray(input.xp.count_nonzero(array, axis=axes), dtype=numpy.int64))


def argwhere(input):
    """The indices of the non-zero elements, one row each: shape (count, ndim), as nonzero."""
    return nonzero(input)


def histc(input, bins=100, min=0, max=0):
    """A histogram of ``bins`` equal bins over [min, max] (the data's range when both are 0;
    widened by 1 each way when it is a single value); values outside it, and NaN, are not
    counted; the last bin includes max. Counts in the input's dtype, as PyTorch's."""
    array = input.array
    if array.dtype.kind != "f":
        raise OpRuntimeError("histc", f"only floating inputs are supported, got dtype {array.dtype}")
    if bins <= 0:
        raise OpRuntimeError("histc", f"bins must be > 0, got {bins}")
    low, high = float(min), float(max)
    if low == high and array.size:
        finite = array[numpy.isfinite(array)] if input.xp is numpy else array[input.xp.isfinite(array)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (low, high)
    if low == high:
        low, high = low - 1, high + 1
    if low > high:
        raise OpRuntimeError("histc", f"max must be larger than min, got min {min} and max {max}")
    xp = input.xp
    values = array.reshape(-1)
    values = values[(values >= low) & (values <= high)]
    kind = array.dtype.type  # in the input's precision, as PyTorch's kernel: a value on an edge lands alike
    index = ((values - kind(low)) * kind(bins) / kind(high - low)).astype(numpy.int64)
    counts = xp.bincount(xp.minimum(index, bins - 1), minlength=bins)
    return input._wrap(counts.astype(array.dtype))


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, ... occurs in a 1-D non-negative integer tensor (or the sum
    of the weights at its occurrences), at least ``minlength`` counts."""
    array = input.array
    if array.ndim != 1 or array.dtype.kind not in "iub":
        raise OpRuntimeError("bincount", f"bincount only supports 1-d non-negative integral inputs, got "
                                         f"{array.dtype} of shape {tuple(array.shape)}")
    if array.size and int(array.min()) < 0:
        raise OpRuntimeError("bincount", f"bincount only supports non-negative inputs, got {int(array.min())}")
    if minlength < 0:
        raise OpRuntimeError("bincount", f"minlength should be >= 0, got {minlength}")
    xp = input.xp
    if weights is None or not array.size:  # an empty input counts in int64 even with weights, as PyTorch
        return input._wrap(xp.bincount(array, minlength=minlength).astype(numpy.int64))
    if tuple(weights.shape) != tuple(array.shape):
        raise OpRuntimeError("bincount", f"weights of shape {tuple(weights.shape)} should have the input's shape "
                                         f"{tuple(array.shape)}")
    kind = weights.array.dtype if weights.array.dtype.kind == "f" else numpy.dtype(numpy.float64)
    if xp is not numpy:  # CuPy sums the weights with atomic adds
        alert_not_deterministic("bincount with weights on CUDA")
    counts = xp.bincount(array, weights=weights.array.astype(numpy.float64), minlength=minlength)
    return input._wrap(counts.astype(kind))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (or, with ``dim``, slices), in ascending order; optionally where
    each element's value sits among them (``inverse``, in the input's shape) and how often it
    occurs."""
    xp = input.xp
    axis = normalize_dim(dim, input.ndim, "unique")[0] if dim is not None else None
    if axis is not None and any(size == 0 for k, size in enumerate(input.array.shape) if k != axis):
        raise OpRuntimeError("unique", f"a tensor of shape {tuple(input.shape)} has 0-sized dimensions besides dim "
                                       f"{dim}: its slices along dim cannot be compared")
    values, inverse, counts = xp.unique(input.array, return_inverse=True, return_counts=True, axis=axis)
    out = [input._wrap(values)]
    if return_inverse:
        shape = input.array.shape if axis is None else (input.array.shape[axis],)
        out.append(input._wrap(inverse.reshape(shape).astype(numpy.int64)))
    if return_counts:
        out.append(input._wrap(counts.astype(numpy.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (equal infinities count as close)."""
    if input.array.dtype != other.array.dtype:
        raise OpRuntimeError("isclose", f"expected both inputs to have the same dtype, got {input.dtype} and "
                                        f"{other.dtype}")
    _broadcast_shape("isclose", input, other)
    return input._wrap(input.xp.isclose(input.array, other.array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def broadcast_tensors(*tensors):
    """The tensors as views broadcast to their common shape."""
    shape = _broadcast_shape("broadcast_tensors", *tensors)
    return tuple(t if t.array.shape == shape else broadcast_to(t, shape) for t in tensors)
