"""Indexing: slices, integer arrays and boolean masks; gather; index assignment."""
from ..backend import get_array_module
from ..errors import OpIndexError, OpRuntimeError
from ..function import Function, is_grad_enabled
from ..tensor_base import TensorBase
from ._util import normalize_dim
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
        return x[index]

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


def setitem(input, index, value):
    """In-place assignment; changes the data outside autograd, so it bumps the version."""
    if input.requires_grad and is_grad_enabled():
        raise OpRuntimeError("setitem", "index assignment on a tensor that requires grad is not "
                                        "differentiable in distgrad; build the result with where() or "
                                        "cat(), or wrap it in no_grad()")
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
    idx = input.xp.nonzero(input.array)
    if as_tuple:
        return tuple(input._wrap(i.astype("int64")) for i in idx)
    return input._wrap(input.xp.stack(idx, axis=1).astype("int64"))
