"""Finding places in sorted sequences: searchsorted and bucketize, as PyTorch's (integer
results, no gradient)."""
import numpy

from ..errors import OpRuntimeError, OpTypeError
from ..tensor_base import TensorBase


def _side(op, right, side):
    if side is None:
        return "right" if right else "left"
    if side not in ("left", "right"):
        raise OpRuntimeError(op, f"side can only be 'left' or 'right', got {side!r}")
    if right and side == "left":
        raise OpRuntimeError(op, "side and right can't be set to opposites, got side='left' and right=True")
    return side


def _result(like, array, out_int32):
    return like._wrap(array.astype(numpy.int32 if out_int32 else numpy.int64, copy=False))


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """For each value, the index in the innermost dim of ``sorted_sequence`` where inserting it
    keeps the order: the first such place, or with ``right`` (side='right') the last."""
    side = _side("searchsorted", right, side)
    seq, xp = sorted_sequence.array, sorted_sequence.xp
    scalar = not isinstance(values, TensorBase)
    vals = xp.asarray(values, dtype=seq.dtype if scalar else None) if scalar else values.array
    if seq.ndim == 0:
        raise OpRuntimeError("searchsorted", "sorted_sequence must have at least one dimension, got a 0-d tensor")
    if sorter is not None:
        order = sorter.array if isinstance(sorter, TensorBase) else xp.asarray(sorter)
        if order.shape != seq.shape or order.dtype.kind not in "iu":
            raise OpRuntimeError("searchsorted", f"sorter must be an integer tensor of the sequence's shape "
                                                 f"{tuple(seq.shape)}, got {order.dtype} {tuple(order.shape)}")
        seq = xp.take_along_axis(seq, order, axis=-1)
    if seq.ndim == 1:
        return _result(sorted_sequence, xp.searchsorted(seq, vals, side=side), out_int32)
    if scalar or seq.shape[:-1] != vals.shape[:-1]:
        raise OpRuntimeError("searchsorted", f"boundaries of shape {tuple(seq.shape)} and input value of shape "
                                             f"{tuple(vals.shape)} must agree on every dimension but the last")
    leading = int(numpy.prod(seq.shape[:-1]))
    rows, flat = seq.reshape(leading, seq.shape[-1]), vals.reshape(leading, vals.shape[-1])
    out = xp.empty(flat.shape, dtype=numpy.int64)
    for i in range(rows.shape[0]):  # one search per leading index: the sequences differ
        out[i] = xp.searchsorted(rows[i], flat[i], side=side)
    return _result(sorted_sequence, out.reshape(vals.shape), out_int32)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each element: i with boundaries[i-1] < x <= boundaries[i] (with ``right``,
    boundaries[i-1] <= x < boundaries[i])."""
    if not isinstance(boundaries, TensorBase):
        raise OpTypeError("bucketize", f"boundaries must be a tensor, got {type(boundaries).__name__}")
    if boundaries.ndim != 1:
        raise OpRuntimeError("bucketize", f"boundaries tensor must be 1 dimension, got shape {tuple(boundaries.shape)}")
    if not isinstance(input, TensorBase):
        return searchsorted(boundaries, input, out_int32=out_int32, right=right)
    out = boundaries.xp.searchsorted(boundaries.array, input.array, side="right" if right else "left")
    return _result(input, out, out_int32)
