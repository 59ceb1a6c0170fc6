"""Indexing: slices, integer arrays and boolean masks; gather; index assignment."""
import warnings

import numpy

from ..backend import get_array_module
from ..errors import OpIndexError, OpRuntimeError, OpTypeError, OpValueError
from ..function import Function, named_error
from ..runtime import alert_not_deterministic
from ..tensor_base import TensorBase
from ._util import as_tensor_like, cast, normalize_dim, open_grid, scalar_value, unbroadcast
from .elementwise import where


def scatter_add(xp, target, index, values):
    """target[index] += values, accumulating repeated indices (NumPy and CuPy)."""
    if xp.__name__ == "numpy":
        xp.add.at(target, index, values)
    else:
        import cupyx  # CuPy's companion, optional: only reached with CuPy arrays
        alert_not_deterministic("scatter_add on CUDA (atomic adds: index_add, index_put(accumulate=True), "
                                "the backward of advanced indexing and of embedding)")
        cupyx.scatter_add(target, index, values)


class GetItem(Function):
    is_view = True

    def forward(self, xp, x, index, advanced):
        self.in_shape, self.in_dtype, self.index, self.advanced = x.shape, x.dtype, index, advanced
        out = x[index]
        if out.ndim == 0 and not advanced:  # NumPy gives a scalar (a copy): take a 0-d view
            index = index if type(index) is tuple else (index,)
            if Ellipsis not in index:
                out = x[index + (Ellipsis,)]
        return out

    def backward(self, xp, g):
        gx = xp.zeros(self.in_shape, dtype=g.dtype)
        if self.advanced:
            scatter_add(xp, gx, self.index, g)
        else:
            gx[self.index] = g
        return (gx,)


class GetItemCopy(GetItem):
    """Advanced indexing (integer arrays, masks) copies: the result is no view of the input."""
    is_view = False


def _is_mask(item):
    return item.dtype.kind == "b" or item.dtype.name == "uint8"  # uint8: a mask, as PyTorch (deprecated)


def _dims_taken(item):
    """How many input dims an index item consumes (None, Ellipsis and Python bools: none)."""
    if item is None or item is Ellipsis or isinstance(item, bool):
        return 0
    if isinstance(item, list):
        item = numpy.asarray(item)
    return item.ndim if hasattr(item, "dtype") and _is_mask(item) else 1


def _first_dims(items, ndim):
    """The first input dim each index item indexes (only computed when a mask needs it)."""
    dims, dim = [], 0
    for item in items:
        if item is Ellipsis:
            dim += ndim - sum(_dims_taken(i) for i in items)
        dims.append(dim)
        dim += _dims_taken(item)
    return dims


def _check_mask(mask, shape, dim, position):
    if mask.shape != tuple(shape[dim:dim + mask.ndim]):
        raise OpIndexError("getitem", f"the mask of shape {tuple(mask.shape)} at index {position} does not "
                                      f"match the indexed tensor's shape {tuple(shape)} from dim {dim}; a mask "
                                      "needs the sizes of the dims it indexes")
    if mask.dtype.kind != "b":
        warnings.warn("indexing with a uint8 tensor is deprecated, use a bool tensor instead", UserWarning,
                      stacklevel=4)
        mask = mask.astype(bool)
    return mask


def convert_index(index, xp, shape):
    """Tensors in an index become arrays; report whether it uses advanced indexing."""
    items = index if isinstance(index, tuple) else (index,)
    converted, advanced = [], False
    for position, item in enumerate(items):
        if isinstance(item, TensorBase):
            item = item.array
        elif isinstance(item, list):
            item = xp.asarray(item)
        elif isinstance(item, slice) and item.step is not None and item.step <= 0:
            # PyTorch's views have positive strides only; NumPy would silently reverse.
            raise OpValueError("getitem", f"step must be greater than zero, got {item}; "
                                          "reverse with flip() instead")
        if hasattr(item, "dtype") and hasattr(item, "ndim"):
            advanced = True
            if get_array_module(item) is not xp:
                item = xp.asarray(item)
            if _is_mask(item):  # a mask is the tuple of its nonzero positions
                item = _check_mask(item, shape, _first_dims(items, len(shape))[position], position)
                converted.extend(xp.nonzero(item))
                continue
        converted.append(item)
    if isinstance(index, tuple) or len(converted) != 1:
        return tuple(converted), advanced
    return converted[0], advanced


def _wrapped_into_range(index, shape, xp):
    """Integer arrays of ``index`` taken modulo the size of the dim they index (where not 0)."""
    items = index if isinstance(index, tuple) else (index,)
    out = [item % shape[d] if hasattr(item, "dtype") and item.dtype.kind in "iu" and d < len(shape) and shape[d]
           else item for item, d in zip(items, _first_dims(items, len(shape)))]
    return tuple(out) if isinstance(index, tuple) else out[0]


def getitem(input, index):
    xp = input.xp
    shape = input.array.shape
    index, advanced = convert_index(index, xp, shape)
    try:
        return (GetItemCopy if advanced else GetItem).apply(input, index=index, advanced=advanced)
    except IndexError as e:
        if advanced and input.array.size == 0:
            # PyTorch does not check integer indices into a tensor without elements (only that
            # the indexed dim is not empty): the result is empty either way.
            try:
                return GetItemCopy.apply(input, index=_wrapped_into_range(index, shape, xp), advanced=True)
            except IndexError:
                pass
        raise OpIndexError("getitem", f"index {index!r} is out of range for a tensor of shape "
                                      f"{tuple(shape)}: {e}") from None


class IndexPut(Function):
    """``x`` with ``x[index] = value``, out of place: what index_put_ writes back under autograd."""

    def forward(self, xp, x, value, index):
        self.index, self.value_shape = index, value.shape
        out = x.copy()
        out[index] = value
        return out

    def backward(self, xp, g):
        keep, put = self.needs_grad
        gx = None
        if keep:
            gx = g.copy()
            gx[self.index] = 0
        return gx, unbroadcast(g[self.index], self.value_shape) if put else None


def index_put(input, index, value):
    """Out of place ``input[index] = value`` (index already converted), value cast to input's dtype."""
    value = as_tensor_like(value, input)
    if value.array.dtype != input.array.dtype:
        value = cast(value, input.array.dtype)
    return IndexPut.apply(input, value, index=index)


class Gather(Function):
    def forward(self, xp, x, index, axis):
        self.in_shape, self.index, self.axis = x.shape, index, axis
        return xp.take_along_axis(x, index, axis=axis)

    def backward(self, xp, g):
        gx = xp.zeros(self.in_shape, dtype=g.dtype)
        idx = open_grid(xp, self.index.shape)
        idx[self.axis] = self.index
        scatter_add(xp, gx, tuple(idx), g)
        return (gx,)


def _index_array(index, op):
    array = index.array if isinstance(index, TensorBase) else index
    if not hasattr(array, "dtype") or array.dtype.kind not in "iu":
        raise OpRuntimeError(op, f"expected an int32/int64 index tensor, got {getattr(array, 'dtype', type(index))}")
    return array


def _check_in_range(array, size, op):
    """Index values must lie in [0, size): NumPy would wrap negative ones silently."""
    if array.size:
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi >= size:
            raise OpIndexError(op, f"index {lo if lo < 0 else hi} is out of bounds for a dimension of size "
                                   f"{size}; indices must lie in [0, {size})")


def gather(input, dim, index):
    if input.ndim == 0:  # a 0-d tensor gathers as one of shape (1,)
        return gather(input.reshape(1), dim, index.reshape(-1) if index.ndim == 0 else index).reshape(index.shape)
    if index.ndim == 0 and input.ndim == 1:  # and a 0-d index into a 1-d tensor as one of shape (1,)
        return gather(input, dim, index.reshape(1)).reshape(())
    axis = normalize_dim(dim, input.ndim, "gather")[0]
    shape, array = input.array.shape, _index_array(index, "gather")
    if index.ndim != input.ndim:
        raise OpRuntimeError("gather", f"index of shape {tuple(index.shape)} must have as many dimensions as "
                                       f"input of shape {tuple(shape)}")
    if any(i > s for k, (i, s) in enumerate(zip(index.shape, shape)) if k != axis):
        raise OpRuntimeError("gather", f"index of shape {tuple(index.shape)} must be no larger than input of "
                                       f"shape {tuple(shape)} apart from dimension {axis}")
    _check_in_range(array, shape[axis], "gather")
    if any(i != s for k, (i, s) in enumerate(zip(index.shape, shape)) if k != axis):
        # only the index's extent of the other dims takes part, as in PyTorch
        input = getitem(input, tuple(slice(None) if k == axis else slice(0, i)
                                     for k, i in enumerate(index.shape)))
    return Gather.apply(input, index=array, axis=axis)


def index_select(input, dim, index):
    if index.ndim > 1:
        raise OpIndexError("index_select", f"index must be a vector (0-d or 1-D), got shape {tuple(index.shape)}")
    if input.ndim == 0:  # a 0-d tensor selects as one of shape (1,) and stays 0-d
        return index_select(input.reshape(1), dim, index).reshape(())
    axis = normalize_dim(dim, input.ndim, "index_select")[0]
    array = _index_array(index, "index_select")
    _check_in_range(array, input.array.shape[axis], "index_select")
    return getitem(input, (slice(None),) * axis + (array.reshape(-1),))


def masked_fill(input, mask, value):
    if not isinstance(mask, TensorBase) or mask.array.dtype.kind != "b":
        raise OpRuntimeError("masked_fill", f"mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask))}")
    dtype = input.array.dtype
    if isinstance(value, TensorBase):
        scalar_value("masked_fill", value)
        if value.array.dtype != dtype:
            value = cast(value, dtype)
    elif dtype.kind in "iu" and not isinstance(value, int):
        # the tensor keeps its dtype: a float value is truncated (inf and NaN cannot be)
        if value != value or abs(value) == float("inf"):
            raise OpRuntimeError("masked_fill", f"value {value} cannot be converted to {dtype} without overflow")
        value = int(value)
    elif dtype.kind == "b":
        value = bool(value)
    out = where(mask, value, input)
    return out if out.array.dtype == dtype else cast(out, dtype)
