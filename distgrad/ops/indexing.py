"""Indexing: slices, integer arrays and boolean masks; gather; index assignment."""
from ..backend import get_array_module
from ..errors import OpIndexError, OpRuntimeError
from ..function import Function, is_grad_enabled
from ..tensor_base import TensorBase
from ._util import as_tensor_like, cast, normalize_dim, unbroadcast
from .elementwise import where


def scatter_add(xp, target, index, values):
    """target[index] += values, accumulating repeated indices (NumPy and CuPy)."""
    if xp.__name__ == "numpy":
        xp.add.at(target, index, values)
    else:
        import cupyx  # CuPy's companion, optional: only reached with CuPy arrays
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


def _convert_index(index, xp):
    """Tensors in an index become arrays; report whether it uses advanced indexing."""
    items = index if isinstance(index, tuple) else (index,)
    converted, advanced = [], False
    for item in items:
        if isinstance(item, TensorBase):
            item = item.array
        elif isinstance(item, list):
            item = xp.asarray(item)
        if hasattr(item, "dtype") and hasattr(item, "ndim"):
            advanced = True
            if get_array_module(item) is not xp:
                item = xp.asarray(item)
            if item.dtype == bool:  # a mask is the tuple of its nonzero positions
                converted.extend(xp.nonzero(item))
                continue
        converted.append(item)
    if isinstance(index, tuple) or len(converted) != 1:
        return tuple(converted), advanced
    return converted[0], advanced


def getitem(input, index):
    xp = input.xp
    index, advanced = _convert_index(index, xp)
    try:
        return (GetItemCopy if advanced else GetItem).apply(input, index=index, advanced=advanced)
    except IndexError as e:
        raise OpIndexError("getitem", f"index {index!r} is out of range for a tensor of shape "
                                      f"{tuple(input.shape)}: {e}") from None


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


def setitem(input, index, value):
    """Index assignment, in place: the data is written and the version bumped. When autograd is
    involved it is copy_ into the view ``input[index]``, or index_put_ for advanced indexing,
    so that the gradient follows (autograd/views.py)."""
    if is_grad_enabled() and (input.requires_grad or (isinstance(value, TensorBase) and value.requires_grad)):
        from . import inplace  # which imports this module
        converted, advanced = _convert_index(index, input.xp)
        if advanced:
            inplace.index_put_(input, converted, value)
        else:
            inplace.copy_(getitem(input, index), value)
        return
    index, _ = _convert_index(index, input.xp)
    input.array[index] = value.array if isinstance(value, TensorBase) else value
    input._bump_version()


class Gather(Function):
    def forward(self, xp, x, index, axis):
        self.in_shape, self.index, self.axis = x.shape, index, axis
        return xp.take_along_axis(x, index, axis=axis)

    def backward(self, xp, g):
        gx = xp.zeros(self.in_shape, dtype=g.dtype)
        idx = list(xp.indices(self.index.shape, sparse=True))
        idx[self.axis] = self.index
        scatter_add(xp, gx, tuple(idx), g)
        return (gx,)


def gather(input, dim, index):
    axis = normalize_dim(dim, input.ndim, "gather")[0]
    return Gather.apply(input, index=index.array if isinstance(index, TensorBase) else index, axis=axis)


def index_select(input, dim, index):
    axis = normalize_dim(dim, input.ndim, "index_select")[0]
    return getitem(input, (slice(None),) * axis + (index,))


def masked_fill(input, mask, value):
    return where(mask, value, input)


def nonzero(input, as_tuple=False):
    # A 0-d tensor counts as one element: as_tuple gives one index tensor, else (k, 0) indices.
    idx = input.xp.nonzero(input.array.reshape(1) if input.ndim == 0 else input.array)
    if as_tuple:
        return tuple(input._wrap(i.astype("int64")) for i in idx)
    return input._wrap(input.xp.stack(idx, axis=1)[:, :input.ndim].astype("int64"))
