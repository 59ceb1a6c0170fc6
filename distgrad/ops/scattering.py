"""Writing into a tensor at indices: scatter, scatter_add, index_add, index_fill (out of place
and in place) and masked_select, as PyTorch's.

Each op's array kernel writes into an array in place; the Functions run it on a copy, the
in-place forms (``scatter_``, ...) on the tensor itself when no gradient is involved.
"""
from ..backend import get_array_module
from ..errors import OpIndexError, OpRuntimeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import as_tensor_like, cast, normalize_dim, open_grid, scalar_value
from .indexing import _check_in_range, _index_array, getitem, index_put, scatter_add as _accumulate
from .inplace import _inplace
from .shape import broadcast_to


# ------------------------------------------------------------------ scatter and scatter_add
def _positions(xp, index, axis):
    """The places ``index`` (same ndim as the target) points at: its own coordinates, with
    the values of ``index`` along ``axis``."""
    where = open_grid(xp, index.shape)
    where[axis] = index
    return tuple(where)


def _leading(shape):
    """The part of src that takes part: the index's extent of every dim."""
    return tuple(slice(0, s) for s in shape)


def _scatter_args(op, x, dim, index, src):
    """Checked (axis, index array, src array) for scatter ops on arrays, as PyTorch checks them."""
    axis = normalize_dim(dim, x.ndim, op)[0]
    index = _index_array(index, op)
    if index.ndim != x.ndim or (src is not None and src.ndim != x.ndim):
        raise OpRuntimeError(op, f"index {tuple(index.shape)}, self {tuple(x.shape)} and src "
                                 f"{tuple(getattr(src, 'shape', ()))} must have the same number of dimensions")
    if src is not None and any(i > s for i, s in zip(index.shape, src.shape)):
        raise OpRuntimeError(op, f"index of shape {tuple(index.shape)} must be no larger than src of "
                                 f"shape {tuple(src.shape)}")
    if any(i > s for k, (i, s) in enumerate(zip(index.shape, x.shape)) if k != axis):
        raise OpRuntimeError(op, f"index of shape {tuple(index.shape)} must be no larger than self of shape "
                                 f"{tuple(x.shape)} apart from dimension {axis}")
    if src is not None and src.dtype != x.dtype:
        raise OpRuntimeError(op, f"expected self.dtype to be equal to src.dtype, got {x.dtype} and {src.dtype}")
    _check_in_range(index, x.shape[axis], op)
    return axis, index


def _scatter_kernel(out, index, axis, src, accumulate):
    xp = get_array_module(out)
    where, values = _positions(xp, index, axis), src[_leading(index.shape)]
    if accumulate:
        _accumulate(xp, out, where, values)
    else:
        out[where] = values


class Scatter(Function):
    """``x`` with ``src`` written (or, with ``accumulate``, added) at ``index`` along ``axis``."""

    def forward(self, xp, x, src, index, axis, accumulate):
        self.index, self.axis, self.accumulate, self.src_shape = index, axis, accumulate, src.shape
        out = x.copy()
        _scatter_kernel(out, index, axis, src, accumulate)
        return out

    def backward(self, xp, g):
        keep, written = self.needs_grad
        where = _positions(xp, self.index, self.axis)
        gx = gsrc = None
        if keep:
            gx = g
            if not self.accumulate:  # the overwritten places take no gradient back to x
                gx = g.copy()
                gx[where] = 0
        if written:
            gsrc = xp.zeros(self.src_shape, dtype=g.dtype)
            gsrc[_leading(self.index.shape)] = g[where]
        return gx, gsrc


def _src_tensor(op, input, index, src, value):
    if (src is None) == (value is None):
        raise OpRuntimeError(op, "give exactly one of src (a tensor) and value (a number)")
    if src is None or not isinstance(src, TensorBase):  # a number: a constant src of the index's shape
        fill = scalar_value(op, value if src is None else src)
        src = as_tensor_like(fill, input)
        src = cast(src, input.array.dtype) if src.array.dtype != input.array.dtype else src
        return src.expand(*index.shape)
    return src


def scatter(input, dim, index, src=None, value=None, reduce=None):
    """``out[index[i][j]][j] = src[i][j]`` for dim 0 (and likewise for other dims)."""
    if reduce is not None:
        raise OpRuntimeError("scatter", f"reduce={reduce!r} is not supported; use scatter_add or scatter_reduce")
    src = _src_tensor("scatter", input, index, src, value)
    axis, array = _scatter_args("scatter", input.array, dim, index, src.array)
    return Scatter.apply(input, src, index=array, axis=axis, accumulate=False)


def scatter_add(input, dim, index, src):
    """``out[index[i][j]][j] += src[i][j]`` for dim 0, repeated indices accumulating."""
    axis, array = _scatter_args("scatter_add", input.array, dim, index, src.array)
    return Scatter.apply(input, src, index=array, axis=axis, accumulate=True)


def _scatter_array(a, dim, index, src=None, value=None, reduce=None):
    if reduce is not None:
        raise OpRuntimeError("scatter_", f"reduce={reduce!r} is not supported; use scatter_add_")
    if (src is None) == (value is None):
        raise OpRuntimeError("scatter_", "give exactly one of src (a tensor) and value (a number)")
    if src is None or not hasattr(src, "shape") or src.ndim == 0:
        fill = value if src is None else src
        src = get_array_module(a).full(index.shape, scalar_value("scatter_", fill), dtype=a.dtype)
    axis, index = _scatter_args("scatter_", a, dim, index, src)
    _scatter_kernel(a, index, axis, src, accumulate=False)


def _scatter_add_array(a, dim, index, src):
    axis, index = _scatter_args("scatter_add_", a, dim, index, src)
    _scatter_kernel(a, index, axis, src, accumulate=True)


# ------------------------------------------------------------------ index_add and index_fill
def _slices_args(op, x, dim, index, negative_ok=False):
    """Checked (axis, index array) for ops on whole slices along ``dim`` at a vector of indices;
    ``negative_ok``: indices in [-size, 0) count from the end (index_fill's rule)."""
    axis = normalize_dim(dim, x.ndim, op)[0]
    index = _index_array(index, op)
    if index.ndim > 1:
        raise OpIndexError(op, f"index must be a vector (0-d or 1-D), got shape {tuple(index.shape)}")
    index, size = index.reshape(-1), x.shape[axis] if x.ndim else 1
    if negative_ok and index.size and int(index.min()) >= -size:
        index = get_array_module(index).where(index < 0, index + size, index)
    _check_in_range(index, size, op)
    return axis, index


class IndexAdd(Function):
    def forward(self, xp, x, source, index, axis, alpha):
        self.where, self.alpha, self.source_shape = (slice(None),) * axis + (index,), alpha, source.shape
        out = x.copy()
        _accumulate(xp, out, self.where, source if alpha == 1 else alpha * source)
        return out

    def backward(self, xp, g):
        keep, added = self.needs_grad
        gsource = None
        if added:
            gsource = g[self.where]
            gsource = (gsource if self.alpha == 1 else self.alpha * gsource).reshape(self.source_shape)
        return g if keep else None, gsource


def _index_add_args(op, x, dim, index, source):
    axis, index = _slices_args(op, x, dim, index)
    expected = x.shape[:axis] + (len(index),) + x.shape[axis + 1:]
    if tuple(source.shape) != tuple(expected):
        raise OpRuntimeError(op, f"source of shape {tuple(source.shape)} must have the shape of self "
                                 f"{tuple(x.shape)} with dimension {axis} of size {len(index)}")
    if source.dtype != x.dtype:
        raise OpRuntimeError(op, f"expected self and source to have the same dtype, got {x.dtype} and {source.dtype}")
    return axis, index


def index_add(input, dim, index, source, alpha=1):
    """``input`` with ``alpha * source[i]`` added to its slice ``index[i]`` along ``dim``."""
    if input.ndim == 0:  # a 0-d tensor adds as one of shape (1,) and stays 0-d
        return index_add(input.reshape(1), dim, index, source.reshape(1), alpha).reshape(())
    axis, array = _index_add_args("index_add", input.array, dim, index, source.array)
    return IndexAdd.apply(input, source, index=array, axis=axis, alpha=alpha)


def _index_add_array(a, dim, index, source, alpha=1):
    if a.ndim == 0:  # views of shape (1,): writing them writes a
        a, source = a.reshape(1), source.reshape(1)
    axis, index = _index_add_args("index_add_", a, dim, index, source)
    _accumulate(get_array_module(a), a, (slice(None),) * axis + (index,), source if alpha == 1 else alpha * source)


def _fill_value(op, value):
    value = scalar_value(op, value)
    return value.item() if hasattr(value, "item") else value


def index_fill(input, dim, index, value):
    """``input`` with its slices ``index`` along ``dim`` set to ``value`` (a number or 0-d tensor)."""
    if input.ndim == 0:
        return index_fill(input.reshape(1), dim, index, value).reshape(())
    axis, array = _slices_args("index_fill", input.array, dim, index, negative_ok=True)
    return index_put(input, (slice(None),) * axis + (array,), _fill_value("index_fill", value))


def _index_fill_array(a, dim, index, value):
    target = a.reshape(1) if a.ndim == 0 else a
    axis, index = _slices_args("index_fill_", target, dim, index, negative_ok=True)
    target[(slice(None),) * axis + (index,)] = _fill_value("index_fill_", value)


# ------------------------------------------------------------------ masked_select
def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` (broadcast together) is True, as a 1-D tensor."""
    if not isinstance(mask, TensorBase) or mask.array.dtype.kind != "b":
        raise OpRuntimeError("masked_select", f"mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask))}")
    xp = input.xp
    try:
        shape = xp.broadcast_shapes(input.array.shape, mask.array.shape)
    except ValueError:
        raise OpRuntimeError("masked_select", f"the shapes of input {tuple(input.shape)} and mask "
                                              f"{tuple(mask.shape)} do not broadcast") from None
    full = input if input.array.shape == shape else broadcast_to(input, shape)
    mask = xp.broadcast_to(mask.array, shape)
    if not shape:  # a 0-d pair selects as one of shape (1,): the result is 1-D either way
        full, mask = full.reshape(1), mask.reshape(1)
    return getitem(full, mask)


scatter_ = _inplace(scatter, _scatter_array)
scatter_add_ = _inplace(scatter_add, _scatter_add_array)
index_add_ = _inplace(index_add, _index_add_array)
index_fill_ = _inplace(index_fill, _index_fill_array)
for _name in ("scatter_", "scatter_add_", "index_add_", "index_fill_"):
    globals()[_name].__name__ = _name
