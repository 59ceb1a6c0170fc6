"""scatter_reduce (sum, mean, amax, amin) and index_copy, as PyTorch's: reductions of src
into a tensor at indices, and whole slices copied in at indices along a dim."""
from ..backend import get_array_module
from ..errors import OpNotImplementedError, OpRuntimeError
from ..function import Function
from .indexing import index_put, scatter_add as _accumulate
from .inplace import _inplace
from .scattering import _index_add_args, _leading, _positions, _scatter_args

_REDUCTIONS = ("sum", "mean", "amax", "amin")


def _at(xp, reduce, target, where, values):
    """``target[where] = reduce(target[where], values)`` with repeated places all applied."""
    if reduce in ("sum", "mean"):
        _accumulate(xp, target, where, values)
    elif xp.__name__ == "numpy":
        (xp.maximum if reduce == "amax" else xp.minimum).at(target, where, values)
    else:
        import cupyx  # CuPy's companion, optional: only reached with CuPy arrays
        (cupyx.scatter_max if reduce == "amax" else cupyx.scatter_min)(target, where, values)


def _start(xp, dtype, reduce):
    """What a place scattered to starts from when its own value is left out."""
    if reduce in ("sum", "mean"):
        return 0
    if dtype.kind == "f":
        return -xp.inf if reduce == "amax" else xp.inf
    limits = xp.iinfo(dtype)
    return limits.min if reduce == "amax" else limits.max


def _reduced(xp, x, values, where, reduce, include_self):
    """The reduction of ``values`` into a copy of ``x`` at ``where``, and how many values
    landed on every place."""
    counts = xp.zeros(x.shape, dtype=xp.int64)
    _accumulate(xp, counts, where, xp.ones(values.shape, dtype=xp.int64))
    touched = counts > 0
    out = x.copy()
    if not include_self:
        out[touched] = _start(xp, x.dtype, reduce)
    _at(xp, reduce, out, where, values)
    if reduce == "mean":
        divisor = xp.where(touched, counts + include_self, 1).astype(x.dtype)
        out = out // divisor if x.dtype.kind in "iu" else out / divisor
    return out, counts


class ScatterReduce(Function):
    def forward(self, xp, x, src, index, axis, reduce, include_self):
        where, values = _positions(xp, index, axis), src[_leading(index.shape)]
        out, counts = _reduced(xp, x, values, where, reduce, include_self)
        self.where, self.counts, self.src_shape = where, counts, src.shape
        self.reduce, self.include_self = reduce, include_self
        if reduce in ("amax", "amin"):  # who attains each result (ties share the gradient)
            # PyTorch counts a place's own value among the ties even when include_self leaves
            # it out (it then gets no share itself): the same numbers here
            self.x_ties = x == out
            self.x_wins = self.x_ties & (include_self | (counts == 0))
            self.values_win = values == out[where]
        return out

    def backward(self, xp, g):
        keep, scattered = self.needs_grad
        if self.reduce in ("amax", "amin"):
            winners = self.x_ties.astype(g.dtype)
            _accumulate(xp, winners, self.where, self.values_win.astype(g.dtype))
            share = g / xp.maximum(winners, 1)
            gx, per_value = share * self.x_wins, share[self.where] * self.values_win
        else:
            own = (self.counts == 0) | self.include_self  # places whose own value took part
            if self.reduce == "mean":
                g = g / xp.where(self.counts > 0, self.counts + self.include_self, 1)
            gx, per_value = g * own, g[self.where]
        gsrc = None
        if scattered:
            gsrc = xp.zeros(self.src_shape, dtype=g.dtype)
            gsrc[_leading(per_value.shape)] = per_value
        return gx if keep else None, gsrc


def _check_reduce(op, reduce):
    """The reduction's name, checked; 'max' and 'min' are PyTorch's own aliases of amax and amin."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)
    if reduce == "prod":
        raise OpNotImplementedError(op, "reduce='prod' is not supported; use 'sum', 'mean', 'amax' or 'amin'")
    if reduce not in _REDUCTIONS:
        raise OpRuntimeError(op, f"reduce argument must be one of sum, prod, mean, amax, amin, got {reduce!r}")
    return reduce


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``out[index[i][j]][j] = reduce(out[...][j], src[i][j])`` for dim 0, every value that lands
    on a place taking part (and the place's own value, with ``include_self``)."""
    reduce = _check_reduce("scatter_reduce", reduce)
    axis, array = _scatter_args("scatter_reduce", input.array, dim, index, src.array)
    return ScatterReduce.apply(input, src, index=array, axis=axis, reduce=reduce, include_self=bool(include_self))


def _scatter_reduce_array(a, dim, index, src, reduce, include_self=True):
    reduce = _check_reduce("scatter_reduce_", reduce)
    axis, index = _scatter_args("scatter_reduce_", a, dim, index, src)
    xp = get_array_module(a)
    where = _positions(xp, index, axis)
    a[...] = _reduced(xp, a, src[_leading(index.shape)], where, reduce, bool(include_self))[0]


def index_copy(input, dim, index, source):
    """``input`` with its slices ``index[i]`` along ``dim`` replaced by ``source``'s slice i."""
    if input.ndim == 0:  # a 0-d tensor copies as one of shape (1,) and stays 0-d
        return index_copy(input.reshape(1), dim, index, source.reshape(1)).reshape(())
    axis, array = _index_add_args("index_copy", input.array, dim, index, source.array)
    return index_put(input, (slice(None),) * axis + (array,), source)


def _index_copy_array(a, dim, index, source):
    if a.ndim == 0:  # views of shape (1,): writing them writes a
        a, source = a.reshape(1), source.reshape(1)
    axis, index = _index_add_args("index_copy_", a, dim, index, source)
    a[(slice(None),) * axis + (index,)] = source


scatter_reduce_ = _inplace(scatter_reduce, _scatter_reduce_array)
index_copy_ = _inplace(index_copy, _index_copy_array)
scatter_reduce_.__name__, index_copy_.__name__ = "scatter_reduce_", "index_copy_"
