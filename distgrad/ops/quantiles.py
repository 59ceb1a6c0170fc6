"""median, nanmedian, quantile and nanquantile: positions are found in a sort made without a
graph, and the values are gathered from the input, so the gradient goes to the elements picked
(split by the interpolation weights for quantile); and mode."""
import numpy

from ..errors import OpRuntimeError
from ..tensor_base import TensorBase
from ._util import normalize_dim, require_floating
from .elementwise import where
from .indexing import Gather
from .reduction import values_indices
from .sorting import _order


def _last_axis(input, dim, op):
    """(input with the reduced dim moved last, or flattened when dim is None; its axis)."""
    if dim is None:
        return input.reshape(-1), None
    axis = normalize_dim(dim, input.ndim, op)[0]
    return (input.movedim(axis, -1) if input.ndim else input.reshape(1)), axis


def _median(input, dim, keepdim, ignore_nan, op):
    x, axis = _last_axis(input, dim, op)
    xp, n = x.xp, x.shape[-1]
    if n == 0:
        raise OpRuntimeError(op, f"cannot take the median of an empty dimension (shape {tuple(input.shape)})")
    a = x.array
    order = _order(xp, a, a.ndim - 1, False)  # NaNs last
    nans = xp.isnan(a) if a.dtype.kind == "f" else xp.zeros(a.shape, dtype=bool)
    counted = (n - nans.sum(axis=-1)) if ignore_nan else xp.full(a.shape[:-1], n)
    rank = xp.maximum(counted - 1, 0) // 2
    picked = xp.take_along_axis(order, rank[..., None], axis=-1)
    if not ignore_nan:  # a NaN makes the median NaN, at the first NaN's index
        first_nan = xp.argmax(nans, axis=-1)[..., None]
        picked = xp.where(nans.any(axis=-1, keepdims=True), first_nan, picked)
    picked = picked.astype("int64")
    values = Gather.apply(x, index=picked, axis=x.ndim - 1)
    if dim is None:  # PyTorch shares the gradient between the elements equal to the median
        if a.dtype.kind != "f":
            return values.reshape(())  # an integer median: the element itself, in the input's dtype
        return _shared(x, values.reshape(()).detach())
    values, picked = values.squeeze(-1), x._wrap(picked[..., 0])
    if input.ndim == 0:
        values, picked = values.reshape(()), picked.reshape(())
    elif keepdim:
        values, picked = values.unsqueeze(axis), picked.unsqueeze(axis)
    return values_indices(values, picked)


def _shared(x, value):
    """``value`` (an element of x) as the mean of x's elements equal to it (NaN: of the NaNs),
    so that its gradient is split evenly between them."""
    xp, a, v = x.xp, x.array, value.array
    ties = (a == v) | (xp.isnan(a) & xp.isnan(v)) if a.dtype.kind == "f" else a == v
    mask = x._wrap(ties)
    return where(mask, x, 0).sum() / int(ties.sum())


def median(input, dim=None, keepdim=False):
    """The lower median (of all elements: a 0-d tensor; along ``dim``: values and indices)."""
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input, dim=None, keepdim=False):
    return _median(input, dim, keepdim, True, "nanmedian")


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan, op):
    require_floating(op, input)
    if interpolation not in _INTERPOLATIONS:
        raise OpRuntimeError(op, f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    xp = input.xp
    scalar_q = not isinstance(q, TensorBase)
    qs = xp.asarray([q] if scalar_q else q.array, dtype=input.array.dtype)
    if not scalar_q and (q.ndim > 1 or q.array.dtype != input.array.dtype):
        raise OpRuntimeError(op, f"q must be a number or a 1-d tensor of the input's dtype, got shape "
                                 f"{tuple(q.shape)} and dtype {q.array.dtype}")
    if qs.size and ((qs < 0) | (qs > 1)).any():
        raise OpRuntimeError(op, "q values must be in the range [0, 1]")
    x, axis = _last_axis(input, dim, op)
    n = x.shape[-1]
    if n == 0:
        raise OpRuntimeError(op, f"cannot take quantiles of an empty dimension (shape {tuple(input.shape)})")
    a = x.array
    order = _order(xp, a, a.ndim - 1, False).astype("int64")  # NaNs last
    ordered = Gather.apply(x, index=order, axis=x.ndim - 1)
    nans = xp.isnan(a).sum(axis=-1, keepdims=True)
    dt = a.dtype
    # rank = q * scale, except in the rows marked fixed (their rank does not follow q)
    if ignore_nan:  # of the non-NaN values; an all-NaN row (rank -q < 0) points at its first value
        scale = (n - 1 - nans).astype(dt)
        fixed, fixed_rank = qs * scale < 0, 0
    else:  # a row with a NaN has NaN quantiles: point at the NaN sorted last
        scale, fixed, fixed_rank = xp.full(nans.shape, n - 1, dtype=dt), nans > 0, n - 1
    rank = xp.where(fixed, fixed_rank, qs * scale).astype(dt)
    lower, upper = xp.floor(rank), xp.ceil(rank)
    weight = x._wrap(_weight(xp, rank, lower, interpolation))
    if interpolation == "linear" and not scalar_q and q.requires_grad:  # q's gradient flows through the weight
        weight = where(x._wrap(fixed), weight, q * x._wrap(scale) - x._wrap(lower))
    lo_values = Gather.apply(ordered, index=lower.astype("int64"), axis=x.ndim - 1)
    hi_values = Gather.apply(ordered, index=upper.astype("int64"), axis=x.ndim - 1)
    out = lo_values + (hi_values - lo_values) * weight  # (..., Q)
    if dim is not None and keepdim and input.ndim:
        out = out.unsqueeze(axis)
    elif dim is None and keepdim:
        out = out.reshape((1,) * input.ndim + (len(qs),))
    out = out.movedim(-1, 0)
    return out.squeeze(0) if scalar_q else out


def _weight(xp, rank, lower, interpolation):
    frac = rank - lower
    if interpolation == "linear":
        return frac
    if interpolation == "lower":
        return xp.zeros_like(frac)
    if interpolation == "higher":
        return (frac > 0).astype(frac.dtype)
    if interpolation == "midpoint":
        return xp.where(frac > 0, 0.5, 0.0).astype(frac.dtype)
    return (xp.round(rank) > lower).astype(frac.dtype)  # nearest: half to even, as PyTorch


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


def mode(input, dim=-1, keepdim=False):
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of its last occurrence, as PyTorch's; counted on the host (a rare op)."""
    x, axis = _last_axis(input, dim, "mode")
    n = x.shape[-1]
    if n == 0:
        raise OpRuntimeError("mode", f"cannot take the mode of an empty dimension (shape {tuple(input.shape)})")
    a = numpy.asarray(x.__array__())
    order = numpy.argsort(a, axis=-1, kind="stable")
    s = numpy.take_along_axis(a, order, axis=-1)
    positions = numpy.broadcast_to(numpy.arange(n), s.shape)
    starts = numpy.concatenate([numpy.ones(s.shape[:-1] + (1,), bool), s[..., 1:] != s[..., :-1]], axis=-1)
    ends = numpy.concatenate([s[..., 1:] != s[..., :-1], numpy.ones(s.shape[:-1] + (1,), bool)], axis=-1)
    run_start = numpy.maximum.accumulate(numpy.where(starts, positions, 0), axis=-1)
    run_end = n - 1 - numpy.maximum.accumulate(numpy.where(ends, n - 1 - positions, 0)[..., ::-1], axis=-1)[..., ::-1]
    best = numpy.argmax(run_end - run_start, axis=-1)[..., None]  # the first longest run: smallest value
    last = numpy.take_along_axis(run_end, best, axis=-1)
    picked = x.xp.asarray(numpy.take_along_axis(order, last, axis=-1).astype("int64"))
    values = Gather.apply(x, index=picked, axis=x.ndim - 1).squeeze(-1)
    picked = x._wrap(picked[..., 0])
    if input.ndim == 0:
        values, picked = values.reshape(()), picked.reshape(())
    elif keepdim:
        values, picked = values.unsqueeze(axis), picked.unsqueeze(axis)
    return values_indices(values, picked)
