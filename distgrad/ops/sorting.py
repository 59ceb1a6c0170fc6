"""sort, argsort and topk: the order is computed without a graph, and the values are a
gather of the input, whose backward sends each gradient to the element it picked."""
import operator

from ..errors import OpRuntimeError, OpTypeError
from ._util import normalize_dim
from .indexing import Gather
from .reduction import values_indices


def _argsort(xp, a, axis):
    try:
        return xp.argsort(a, axis=axis, kind="stable")
    except TypeError:  # CuPy versions whose argsort takes no kind: theirs is always stable
        return xp.argsort(a, axis=axis)


def _order(xp, a, axis, descending):
    """Indices that sort ``a`` along ``axis``; ties keep their order, NaN counts as the largest
    (last ascending, first descending), as PyTorch's."""
    if not descending:
        return _argsort(xp, a, axis)
    # a stable ascending sort of the reversed input, reversed, keeps ties in input order
    order = _argsort(xp, xp.flip(a, axis), axis)
    return (a.shape[axis] - 1) - xp.flip(order, axis)


def _sorted(input, dim, descending, op, k=None):
    """(values, indices) of ``input`` sorted along ``dim``, the first ``k`` only if given."""
    axis = normalize_dim(dim, input.ndim, op)[0]
    flat = input.ndim == 0
    if flat:  # a 0-d tensor sorts as one of shape (1,); its topk(0) is the element too, as PyTorch's
        input, k = input.reshape(1), (1 if k == 0 else k)
    xp, size = input.xp, input.shape[axis]
    if k is not None:
        if not 0 <= k <= size:
            raise OpRuntimeError(op, f"k={k} is out of range for dimension {dim} of size {size}; "
                                     f"pass 0 <= k <= {size}")
    order = _order(xp, input.array, axis, descending)
    if k is not None and k < size:
        order = xp.take(order, xp.arange(k), axis=axis)
    order = order.astype("int64")
    values = Gather.apply(input, index=order, axis=axis)
    if flat:
        values, order = values.reshape(()), order.reshape(())
    return values, input._wrap(order)


def sort(input, dim=-1, descending=False, stable=False):
    return values_indices(*_sorted(input, dim, descending, "sort"))


def argsort(input, dim=-1, descending=False, stable=False):
    return _sorted(input, dim, descending, "argsort")[1]


def topk(input, k, dim=-1, largest=True, sorted=True):
    try:
        k = operator.index(k)
    except TypeError:
        raise OpTypeError("topk", f"k must be an int, got {type(k).__name__}; pass an int") from None
    return values_indices(*_sorted(input, dim, largest, "topk", k))
