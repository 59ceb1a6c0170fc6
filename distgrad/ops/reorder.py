"""Ops that move or repeat elements: narrow, flip, roll, repeat, tile, repeat_interleave."""
import operator

from ..errors import OpIndexError, OpRuntimeError, OpTypeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import normalize_dim, shape_arg
from .indexing import getitem, index_select


def _int(op, name, value):
    try:
        return operator.index(value)
    except TypeError:
        raise OpTypeError(op, f"{name} must be an int, got {type(value).__name__}; pass an int") from None


def _ints(op, name, value):
    """An int or a sequence of ints as a tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(_int(op, name, v) for v in value)
    return (_int(op, name, value),)


def narrow(input, dim, start, length):
    """input's ``length`` elements from ``start`` along ``dim``: a view, as PyTorch's."""
    if input.ndim == 0:
        raise OpRuntimeError("narrow", "cannot be applied to a 0-d tensor; reshape it to 1-d first")
    axis = normalize_dim(_int("narrow", "dim", dim), input.ndim, "narrow")[0]
    start, length, size = _int("narrow", "start", start), _int("narrow", "length", length), input.shape[axis]
    if not -size <= start <= size:
        raise OpRuntimeError("narrow", f"start {start} is out of range for dimension {dim} of size {size}")
    start += size if start < 0 else 0
    if length < 0 or start + length > size:
        raise OpRuntimeError("narrow", f"start ({start}) + length ({length}) exceeds dimension {dim} of size "
                                       f"{size}; pass a length in [0, {size - start}]")
    return getitem(input, (slice(None),) * axis + (slice(start, start + length),))


class Flip(Function):
    def forward(self, xp, x, axes):
        self.axes = axes
        return xp.flip(x, axes).copy()  # a copy, as PyTorch's: the output does not share memory

    def backward(self, xp, g):
        return (xp.flip(g, self.axes),)


def _no_dims(op, input):
    """roll and repeat_interleave name no dim of a 0-d tensor, as PyTorch's (other ops take 0 and -1)."""
    if input.ndim == 0:
        raise OpIndexError(op, "a 0-d tensor has no dimension to name; reshape it to 1-d or pass no dim")


def flip(input, dims):
    if not isinstance(dims, (tuple, list)):
        raise OpTypeError("flip", f"dims must be a tuple of ints, got {type(dims).__name__}; pass (dim,)")
    axes = normalize_dim(_ints("flip", "dims", dims), input.ndim, "flip")
    if len(set(axes)) != len(axes):
        raise OpRuntimeError("flip", f"dims {dims!r} name a dimension twice; name each once")
    if input.ndim == 0 or not axes:
        return Flip.apply(input, axes=())
    return Flip.apply(input, axes=axes)


class Roll(Function):
    def forward(self, xp, x, shifts, axes):
        self.shifts, self.axes = shifts, axes
        return xp.roll(x, shifts, axes)

    def backward(self, xp, g):
        return (xp.roll(g, tuple(-s for s in self.shifts) if self.axes is not None else -self.shifts[0],
                        self.axes),)


def roll(input, shifts, dims=None):
    shifts = _ints("roll", "shifts", shifts)
    if dims is None:
        if len(shifts) != 1:
            raise OpRuntimeError("roll", f"without dims, shifts must be one int, got {shifts}; pass dims")
        return Roll.apply(input, shifts=shifts, axes=None)
    if input.array.size == 0:  # PyTorch returns a copy of an empty tensor before looking at dims
        return Roll.apply(input, shifts=(0,), axes=None)
    _no_dims("roll", input)
    axes = normalize_dim(_ints("roll", "dims", dims), input.ndim, "roll")
    if len(axes) != len(shifts):
        raise OpRuntimeError("roll", f"shifts {shifts} and dims {dims!r} must have the same length")
    return Roll.apply(input, shifts=shifts, axes=axes)


class Tile(Function):
    def forward(self, xp, x, reps):
        self.x_shape, self.in_shape = x.shape, (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return xp.tile(x.reshape(self.in_shape), reps)

    def backward(self, xp, g):
        # each output dim is (repeat, size): sum over the repeats
        split = [n for r, s in zip(self.reps, self.in_shape) for n in (r, s)]
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return (g.reshape(self.x_shape),)


def repeat(input, *sizes):
    if not sizes:
        raise OpTypeError("repeat", "missing the repeats; pass one per dimension, as x.repeat(2, 1)")
    reps = shape_arg(sizes, "repeat")
    if len(reps) < input.ndim:
        raise OpRuntimeError("repeat", f"{len(reps)} repeats for a tensor of {input.ndim} dimensions; "
                                       "pass at least one repeat per dimension")
    if any(r < 0 for r in reps):
        raise OpRuntimeError("repeat", f"repeats must be non-negative, got {reps}")
    return Tile.apply(input, reps=reps)


def tile(input, dims):
    reps = shape_arg((dims,), "tile")
    if any(r < 0 for r in reps):
        raise OpRuntimeError("tile", f"repeats must be non-negative, got {reps}")
    return Tile.apply(input, reps=(1,) * (input.ndim - len(reps)) + reps)


def repeat_interleave(input, repeats, dim=None):
    if dim is None:
        input, axis = input.reshape(-1), 0
    else:
        _no_dims("repeat_interleave", input)
        axis = normalize_dim(_int("repeat_interleave", "dim", dim), input.ndim, "repeat_interleave")[0]
    if input.ndim == 0:
        input = input.reshape(1)
    xp, size = input.xp, input.shape[axis]
    counts = repeats.array if isinstance(repeats, TensorBase) else _int("repeat_interleave", "repeats", repeats)
    if getattr(counts, "ndim", 0) > 1 or (getattr(counts, "ndim", 0) == 1 and counts.shape[0] not in (1, size)):
        raise OpRuntimeError("repeat_interleave", f"repeats must be an int or a 1-d tensor of {size} counts, "
                                                  f"got shape {tuple(counts.shape)}")
    if (counts < 0).any() if hasattr(counts, "any") else counts < 0:
        raise OpRuntimeError("repeat_interleave", "repeats must be non-negative")
    index = xp.repeat(xp.arange(size), counts.reshape(-1) if hasattr(counts, "reshape") else counts)
    return index_select(input, axis, input._wrap(index))
