"""Data types are NumPy dtypes; the names follow PyTorch (float32, long, half, ...)."""
import builtins as _py

import numpy

float16 = half = numpy.dtype("float16")
float32 = float = numpy.dtype("float32")
float64 = double = numpy.dtype("float64")
int8 = numpy.dtype("int8")
uint8 = numpy.dtype("uint8")
int16 = short = numpy.dtype("int16")
int32 = int = numpy.dtype("int32")
int64 = long = numpy.dtype("int64")
bool = numpy.dtype("bool")  # noqa: A001 - mirrors torch.bool

_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(dtype):
    global _default_float
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default_float = dtype


def to_dtype(dtype):
    """Accept a NumPy dtype, a type or a name; None stays None."""
    return None if dtype is None else numpy.dtype(dtype)


def is_floating(dtype):
    return dtype.kind == "f"


def promote(a, b):
    """The result dtype of a binary op between two tensors, as PyTorch promotes.

    Float beats integer whatever the widths (int64 + float16 -> float16), unlike NumPy.
    """
    if a == b:
        return a
    a_float, b_float = a.kind == "f", b.kind == "f"
    if a_float != b_float:
        return a if a_float else b
    return numpy.result_type(a, b)


def scalar_dtype(value, other):
    """The dtype a Python scalar takes when it meets a tensor of dtype ``other``."""
    if isinstance(value, _py.bool):
        return other
    if isinstance(value, _py.float) and other.kind in "biu":
        return _default_float
    if isinstance(value, _py.int) and other.kind == "b":
        return int64
    return other
