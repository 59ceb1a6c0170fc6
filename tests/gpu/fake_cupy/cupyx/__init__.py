"""cupyx.scatter_add, scatter_max and scatter_min for the NumPy-backed CuPy beside it."""
import numpy as _np
from cupy import _launched, _unwrap


def scatter_add(a, slices, value):
    _launched("scatter_add")
    _np.add.at(_unwrap(a), _unwrap(slices, strict=False), _unwrap(value))


def scatter_max(a, slices, value):
    _launched("scatter_max")
    _np.maximum.at(_unwrap(a), _unwrap(slices, strict=False), _unwrap(value))


def scatter_min(a, slices, value):
    _launched("scatter_min")
    _np.minimum.at(_unwrap(a), _unwrap(slices, strict=False), _unwrap(value))
