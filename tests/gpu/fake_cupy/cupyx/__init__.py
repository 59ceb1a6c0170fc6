"""cupyx.scatter_add for the NumPy-backed CuPy beside it."""
import numpy as _np
from cupy import _unwrap


def scatter_add(a, slices, value):
    _np.add.at(_unwrap(a), _unwrap(slices, strict=False), _unwrap(value))
