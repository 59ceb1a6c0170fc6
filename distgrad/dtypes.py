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


class UnsupportedDtype:
    """A PyTorch dtype that NumPy's (and CuPy's) arrays cannot hold. The name exists so that a
    program may name it (a table of dtypes, a comparison, autocast's argument, a choice after
    ``cuda.is_bf16_supported()``); making a tensor of it raises, naming it: NumPy reads a
    ``dtype`` attribute wherever it takes a dtype, and this one raises."""

    def __init__(self, name, itemsize):
        self.name, self.itemsize, self.is_floating_point, self.is_complex = name, itemsize, True, False

    @property
    def dtype(self):
        raise TypeError(f"{self.name}: distgrad's tensors are NumPy (or CuPy) arrays, which have no {self.name}; "
                        "use float16 (autocast supports it on the CPU and the GPU) or float32")

    def __repr__(self):
        return f"distgrad.{self.name}"


bfloat16 = UnsupportedDtype("bfloat16", 2)

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


def _category(dtype):
    return 0 if dtype.kind == "b" else 2 if dtype.kind == "f" else 1


def result_type(arrays):
    """The dtype of an op over ``arrays`` (tensors' arrays), as PyTorch promotes: 0-d operands
    take part only when their category (bool < integer < floating) is above that of every
    dimensioned operand, so float32 with a 0-d float64 stays float32, int32 with a 0-d int64
    stays int32, but int32 with a 0-d float64 is float64. Python scalars are not arrays here:
    ``scalar_dtype`` treats them, before they become 0-d constants."""
    dims = zeros = None
    for a in arrays:
        if a.ndim:
            dims = a.dtype if dims is None else promote(dims, a.dtype)
        else:
            zeros = a.dtype if zeros is None else promote(zeros, a.dtype)
    if dims is None or zeros is None:
        return zeros if dims is None else dims
    return dims if _category(dims) >= _category(zeros) else promote(dims, zeros)


def scalar_dtype(value, other):
    """The dtype a Python scalar takes when it meets a tensor of dtype ``other``."""
    if isinstance(value, _py.bool):
        return other
    if isinstance(value, _py.float) and other.kind in "biu":
        return _default_float
    if isinstance(value, _py.int) and other.kind == "b":
        return int64
    return other
