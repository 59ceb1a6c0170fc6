"""Small helpers shared by the ops: argument coercion, dtype casts and broadcasting's backward."""
import functools
import inspect
import operator
import os

import numpy

from .. import dtypes
from ..backend import get_array_module
from ..errors import OpIndexError, OpNotImplementedError, OpRuntimeError, OpTypeError
from ..function import Function
from ..tensor_base import TensorBase


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the backward of NumPy broadcasting."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def shape_arg(shape, op="size"):
    """Accept f(2, 3), f((2, 3)) and f([2, 3]) (a Size is a tuple); sizes must be integers (2.5
    raises, as in PyTorch, instead of becoming 2)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(map(operator.index, shape))
    except TypeError:
        raise OpTypeError(op, f"sizes must be integers, got {tuple(shape)!r}; pass ints") from None


def as_tensor_like(value, like):
    """A Python scalar or array as a constant tensor next to ``like`` (same device)."""
    if isinstance(value, TensorBase):
        return value
    xp = like.xp
    if isinstance(value, (bool, int, float)):
        dtype = dtypes.scalar_dtype(value, like.array.dtype)
        try:
            return like._wrap(xp.asarray(value, dtype=dtype))
        except OverflowError:  # int8 tensor + 1000: wraps around in the tensor's dtype, as in PyTorch
            return like._wrap(xp.asarray(numpy.asarray(value).astype(dtype)))
    array = xp.asarray(value)
    if array.dtype.kind not in "biuf":
        raise OpTypeError("operand", f"expected a tensor or a number, got {type(value).__name__}; "
                                     "pass a tensor, a Python number or a numeric array")
    if array.dtype == numpy.float64 and not isinstance(value, numpy.ndarray):
        array = array.astype(dtypes.get_default_dtype())
    return like._wrap(array)


def binary_operands(a, b):
    """Two tensors of one dtype, promoted as PyTorch does; scalars become constants."""
    if not isinstance(a, TensorBase):
        a = as_tensor_like(a, b)  # in the dtype the scalar and b promote to
    elif not isinstance(b, TensorBase):
        b = as_tensor_like(b, a)
    da, db = a.array.dtype, b.array.dtype
    if da != db:
        target = dtypes.result_type((a.array, b.array))
        if da != target:
            a = cast(a, target)
        if db != target:
            b = cast(b, target)
    return a, b


def is_bool(value):
    return isinstance(value, bool) or (isinstance(value, TensorBase) and value.array.dtype.kind == "b")


def reject_bool(op, *operands, how="convert it with .long() or .float() first"):
    """For ops PyTorch defines on no bool operand (sub, neg, abs, relu, ...)."""
    for x in operands:
        if is_bool(x):
            raise OpTypeError(op, f"not supported for a bool operand; {how}")


def require_floating(op, input, empty_ok=False):
    """For ops PyTorch computes on floating inputs only (softmax, gelu, losses, normalization):
    integer and bool inputs raise, as its kernels do (``empty_ok``: unless there are no elements,
    where no kernel runs)."""
    if input.array.dtype.kind != "f" and not (empty_ok and input.array.size == 0):
        raise OpNotImplementedError(op, f"not implemented for an input of dtype {input.array.dtype}; convert "
                                        "it with .float() first")


def scalar_value(op, value):
    """fill_, masked_fill and masked_fill_ take a number or a 0-d tensor (or array), as PyTorch's."""
    if getattr(value, "ndim", 0):
        raise OpRuntimeError(op, f"the value must be a number or a 0-d tensor, got shape {tuple(value.shape)}; "
                                 "index the tensor, or use copy_ or where() for elementwise values")
    return value


def normalize_dim(dim, ndim, op="op"):
    """A dim argument (int, tuple or None) as a tuple of non-negative axes, or None."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim) if isinstance(dim, (tuple, list)) else None
    if dims is None:
        raise OpTypeError(op, f"dim must be an int or a tuple of ints, got {type(dim).__name__} {dim!r}")
    out = []
    for d in dims:
        if not isinstance(d, int):
            raise OpTypeError(op, f"dim must be an int or a tuple of ints, got {dims!r}; pass integer dims")
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise OpIndexError(op, f"dimension {d} out of range for a tensor of {ndim} dimensions")
        out.append(d % max(ndim, 1))
    return tuple(out)


class Cast(Function):
    def forward(self, xp, x, dtype):
        self.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, xp, g):
        return (g.astype(self.in_dtype),)


def cast(tensor, dtype):
    return Cast.apply(tensor, dtype=numpy.dtype(dtype))


def _not_a_tensor(op, fn, args, kwargs, error):
    """The OpTypeError for a non-tensor where ``op`` wants a tensor (``exp(1.0)``), or None
    when ``error`` (an AttributeError raised inside ``op``) is about something else."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return None
    text = str(error)
    for position, (name, value) in enumerate(bound.arguments.items(), 1):
        values = value if isinstance(value, (list, tuple)) and name == "tensors" else (value,)
        for k, v in enumerate(values):
            if isinstance(v, TensorBase) or f"'{type(v).__name__}' object" not in text:
                continue
            where = f"element {k} of argument '{name}'" if values is value else f"argument '{name}'"
            return not_a_tensor(op, where, position, v)
    return None


def not_a_tensor(op, where, position, value):
    return OpTypeError(op, f"{where} (position {position}) must be Tensor, not {type(value).__name__}; "
                           "make it one with distgrad.tensor(...)")


def require_tensors(op, input, other):
    """For binary ops PyTorch defines on two tensors only (maximum, logical_and: no scalar)."""
    if not isinstance(input, TensorBase):
        raise not_a_tensor(op, "argument 'input'", 1, input)
    if not isinstance(other, TensorBase):
        raise not_a_tensor(op, "argument 'other'", 2, other)


def names_non_tensors(fn):
    """The functional API's ``fn``, raising an OpTypeError naming the op and the argument
    when given a non-tensor where it reads a tensor's attributes ('float' object has no
    attribute 'array'). The check runs only once such an error is raised; Tensor methods
    call the ops unwrapped."""
    @functools.wraps(fn)
    def op(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AttributeError as e:
            named = _not_a_tensor(fn.__name__, fn, args, kwargs, e)
            if named is None:
                raise
            raise named from None
    return op


def may_read_values(array):
    """Whether a check may read an array's values on the host: always on NumPy; on a GPU only
    under DISTGRAD_DEBUG=1, since each read is a device synchronization that stalls the step
    (PyTorch checks such values with device-side asserts, which CuPy lacks)."""
    return get_array_module(array) is numpy or os.environ.get("DISTGRAD_DEBUG", "") not in ("", "0")


def out_of_range_poison(xp, indices, size, dtype, ignore_index=None):
    """What an op adds to its result (and gradient) when it could not check ``indices`` on the
    host (may_read_values): a 0-d device array, NaN when an index other than ``ignore_index``
    lies outside [0, size), else 0. A bad index then shows as NaN in the loss and gradients,
    never as the silently wrapped-around row CuPy's indexing gives (PyTorch stops at a
    device-side assert). Computed on the device: no synchronization."""
    as_unsigned = indices.astype(xp.int64, copy=False).view(xp.uint64)  # a negative index is huge
    bad = as_unsigned >= size
    if ignore_index is not None:
        bad &= indices != ignore_index
    return nan_if_any(xp, dtype, bad)


def outside_unit_interval_poison(xp, dtype, *arrays):
    """As out_of_range_poison, for values that must lie in [0, 1] (NaN included)."""
    return nan_if_any(xp, dtype, *[~((a >= 0) & (a <= 1)) for a in arrays])


def nan_if_any(xp, dtype, *bad):
    """A 0-d device array: NaN when any element of the boolean arrays ``bad`` is true, else 0."""
    flagged = bad[0].any()
    for more in bad[1:]:
        flagged = flagged | more.any()
    dtype = numpy.dtype(dtype)
    return xp.where(flagged, dtype.type(numpy.nan), dtype.type(0))


def host_min_max(array):
    """The (min, max) of a non-empty array as Python numbers, read back in one transfer: each
    int() of a CuPy value is a device synchronization (index checks of embedding, losses)."""
    xp = get_array_module(array)
    if xp is numpy:
        return array.min().item(), array.max().item()
    return tuple(xp.stack((array.min(), array.max())).tolist())


def open_grid(xp, shape):
    """Each axis's coordinates, shaped to broadcast against the others (NumPy's
    ``indices(shape, sparse=True)``, which CuPy lacks)."""
    ndim = len(shape)
    return [xp.arange(n).reshape((1,) * d + (n,) + (1,) * (ndim - d - 1)) for d, n in enumerate(shape)]
