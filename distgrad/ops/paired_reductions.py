"""Reductions that come in pairs or skip NaNs: aminmax, std_mean, var_mean, nansum, nanmean; and
the running ones: cummax, cummin, logcumsumexp; and renorm, which rescales sub-tensors by
their norm."""
from collections import namedtuple

from ..errors import OpRuntimeError
from ..function import Function
from ._util import normalize_dim, require_floating
from .elementwise import isnan, where
from .indexing import Gather
from .reduction import amax, amin, mean, norm, std, sum, values_indices, var

aminmax_result = namedtuple("aminmax", ["min", "max"])


def aminmax(input, *, dim=None, keepdim=False):
    return aminmax_result(amin(input, dim, keepdim), amax(input, dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction), mean(input, dim, keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction), mean(input, dim, keepdim)


class NanAsZero(Function):
    """NaN replaced by 0; the gradient is g times a 0/1 mask (PyTorch's product: 0 * inf is NaN)."""

    def forward(self, xp, x):
        self.saved = xp.isnan(x)
        return xp.where(self.saved, 0, x)

    def backward(self, xp, g):
        return (g * ~self.saved,)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """sum with NaNs counted as zero (their gradient is zero too)."""
    if input.array.dtype.kind == "f":
        input = NanAsZero.apply(input)
    return sum(input, dim, keepdim, dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the non-NaN elements (NaN where there are none)."""
    require_floating("nanmean", input)
    count = sum(~isnan(input), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def _running_extremum(input, dim, largest, op):
    """(values, indices) of the running max or min along ``dim``: a later tie takes the index,
    and a NaN, once seen, stays (PyTorch's rules)."""
    if input.array.size == 0:  # PyTorch checks no dim here
        return values_indices(input.clone(), input._wrap(input.xp.zeros(input.array.shape, dtype="int64")))
    axis = normalize_dim(dim, input.ndim, op)[0]
    if input.ndim == 0:
        return values_indices(input.clone(), input._wrap(input.xp.zeros((), dtype="int64")))
    xp, a = input.xp, input.xp.moveaxis(input.array, axis, 0)
    index = xp.zeros(a.shape, dtype="int64")
    if a.shape[0]:
        best, best_index = a[0], xp.zeros(a.shape[1:], dtype="int64")
        floating = a.dtype.kind == "f"
        for i in range(a.shape[0]):
            x = a[i]
            better = (x >= best) if largest else (x <= best)
            if floating:
                better = xp.isnan(x) | (better & ~xp.isnan(best))
            best = xp.where(better, x, best)
            best_index = xp.where(better, i, best_index)
            index[i] = best_index
    index = xp.ascontiguousarray(xp.moveaxis(index, 0, axis))
    return values_indices(Gather.apply(input, index=index, axis=axis), input._wrap(index))


def cummax(input, dim):
    return _running_extremum(input, dim, True, "cummax")


def cummin(input, dim):
    return _running_extremum(input, dim, False, "cummin")


class LogCumSumExp(Function):
    """log(cumsum(exp(x))) along an axis, shifted by the running max for stability."""
    saves_inputs = saves_output = True

    def forward(self, xp, x, axis):
        if hasattr(xp.logaddexp, "accumulate"):
            out = xp.logaddexp.accumulate(x, axis=axis)
        else:  # CuPy: one shift by the axis' max
            top = xp.max(x, axis=axis, keepdims=True)
            top = xp.where(xp.isfinite(top), top, 0)
            out = xp.log(xp.cumsum(xp.exp(x - top), axis=axis)) + top
        self.saved, self.axis = (x, out), axis
        return out

    def backward(self, xp, g):
        # d out_i / d x_j = exp(x_j - out_i) for j <= i, at most 1 (out_i >= x_j): one
        # (n, n) weight matrix per row, small for the running sums this serves
        x, out = self.saved
        xm, om, gm = (xp.moveaxis(t, self.axis, -1) for t in (x, out, g))
        n = xm.shape[-1]
        below = xp.tril(xp.ones((n, n), dtype=bool))
        with_inf = om[..., :, None] == -xp.inf
        weights = xp.where(below & ~with_inf, xp.exp(xm[..., None, :] - om[..., :, None]), 0)
        grad = (gm[..., :, None] * weights).sum(axis=-2)
        return (xp.moveaxis(grad, -1, self.axis),)


def logcumsumexp(input, dim):
    require_floating("logcumsumexp", input)
    axis = normalize_dim(dim, input.ndim, "logcumsumexp")[0]
    if input.ndim == 0:
        return input.clone()
    return LogCumSumExp.apply(input, axis=axis)


def renorm(input, p, dim, maxnorm):
    """Each sub-tensor along ``dim`` whose p-norm exceeds ``maxnorm`` scaled down to it
    (PyTorch's 1e-7 in the divisor included); the scale is differentiated too."""
    require_floating("renorm", input)
    if input.ndim < 2:
        raise OpRuntimeError("renorm", f"input needs at least 2 dimensions, got shape {tuple(input.shape)}")
    axis = normalize_dim(dim, input.ndim, "renorm")[0]
    others = tuple(i for i in range(input.ndim) if i != axis)
    norms = norm(input, p, others, keepdim=True)
    scale = where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return input * scale
