"""embedding_bag: the sum, mean or max of the embeddings of each bag of indices, as PyTorch's.

Bags are the rows of a 2-D input, or the runs of a 1-D input that ``offsets`` starts. The rows
are looked up once (``embedding``); sum and mean then multiply them by a (bags x indices)
matrix of bag membership (1, a per-sample weight, or 1/count), max takes each bag's maximum
over a (bags x longest bag) gather. Indices equal to ``padding_idx`` take no part; an empty
bag gives zeros.
"""
import numpy

from ..errors import OpNotImplementedError, OpRuntimeError, OpValueError
from ..tensor_base import TensorBase
from .embedding import embedding
from .elementwise import mul
from .indexing import masked_fill
from .linalg import matmul
from .reduction import max as _max


def _bags(indices, offsets, include_last_offset):
    """Per index, the bag it belongs to; and the number of bags (host arrays)."""
    if indices.ndim == 2:
        if offsets is not None:
            raise OpValueError("embedding_bag", "if input is 2-D, then offsets has to be None, as input is treated "
                                                "as a mini-batch of fixed length sequences")
        rows, length = indices.shape
        return numpy.repeat(numpy.arange(rows), length), rows
    if indices.ndim != 1:
        raise OpValueError("embedding_bag", f"input has to be 1-D or 2-D, got shape {indices.shape}")
    if offsets is None:
        raise OpValueError("embedding_bag", "offsets has to be a 1-D tensor for a 1-D input, got None")
    starts = numpy.asarray(offsets).reshape(-1).astype(numpy.int64)
    if starts.size == 0 or starts[0] != 0 or numpy.any(numpy.diff(starts) < 0) or starts[-1] > indices.size:
        raise OpValueError("embedding_bag", f"offsets must start at 0 and not decrease up to the input's size "
                                            f"{indices.size}, got {starts.tolist()}")
    if include_last_offset:
        starts = starts[:-1]
    bag = numpy.searchsorted(starts, numpy.arange(indices.size), side="right") - 1
    return bag, starts.size


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise OpNotImplementedError("embedding_bag", "max_norm, scale_grad_by_freq and sparse are not supported")
    if mode not in ("sum", "mean", "max"):
        raise OpValueError("embedding_bag", f"mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise OpNotImplementedError("embedding_bag", f"per_sample_weights is only supported for mode='sum', "
                                                         f"got mode={mode!r}")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise OpValueError("embedding_bag", f"per_sample_weights of shape {tuple(per_sample_weights.shape)} "
                                                f"must have the input's shape {tuple(input.shape)}")
    host = numpy.asarray(input.cpu().numpy() if isinstance(input, TensorBase) else input)  # bags: host indexing
    offsets = None if offsets is None else numpy.asarray(
        offsets.cpu().numpy() if isinstance(offsets, TensorBase) else offsets)
    bag, count = _bags(host, offsets, include_last_offset)
    flat = host.reshape(-1)
    if padding_idx is not None:
        padding_idx %= weight.shape[0]
    kept = flat != padding_idx if padding_idx is not None else numpy.ones(flat.shape, dtype=bool)
    rows = embedding(weight._wrap(weight.xp.asarray(flat)), weight, padding_idx)  # (indices, D)
    xp, dtype = weight.xp, weight.array.dtype
    if mode == "max":
        return _bag_max(rows, bag[kept], numpy.flatnonzero(kept), count)
    member = numpy.zeros((count, flat.size), dtype=dtype)
    member[bag[kept], numpy.flatnonzero(kept)] = 1
    if mode == "mean":
        member /= numpy.maximum(member.sum(axis=1, keepdims=True), 1)
    if per_sample_weights is not None:
        rows = mul(rows, per_sample_weights.reshape(-1, 1))
    return matmul(weight._wrap(xp.asarray(member)), rows)


def _bag_max(rows, bag, position, count):
    """Each bag's maximum over its rows: a (bags, longest, D) gather, missing slots -inf."""
    xp = rows.xp
    if bag.size == 0:  # every bag empty: zeros, still on the weight's graph
        return matmul(rows._wrap(xp.zeros((count, rows.shape[0]), dtype=rows.array.dtype)), rows)
    lengths = numpy.bincount(bag, minlength=count)
    longest = max(int(lengths.max(initial=0)), 1)
    slot = numpy.arange(bag.size) - numpy.concatenate(([0], numpy.cumsum(lengths)[:-1]))[bag]
    table = numpy.zeros((count, longest), dtype=numpy.int64)
    table[bag, slot] = position
    missing = numpy.ones((count, longest), dtype=bool)
    missing[bag, slot] = False
    gathered = rows[rows._wrap(xp.asarray(table))]  # (bags, longest, D)
    gathered = masked_fill(gathered, rows._wrap(xp.asarray(missing[..., None])), float("-inf"))
    best = _max(gathered, dim=1)[0]
    empty = rows._wrap(xp.asarray((lengths == 0)[:, None]))
    return masked_fill(best, empty, 0.0)

