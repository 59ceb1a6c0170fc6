"""cupyx.scatter_add, scatter_max, scatter_min and scipy.special.erf for the NumPy-backed CuPy
beside it."""
import math as _math
import sys as _sys
import types as _types

import numpy as _np
from cupy import _call, _launched, _unwrap

try:
    from scipy.special import erf as _erf
except ImportError:  # slower, the same values to rounding
    def _erf(a, _each=_np.frompyfunc(_math.erf, 1, 1)):
        return _np.asarray(_each(a), dtype=_np.result_type(a, _np.float32))

scipy = _types.ModuleType("cupyx.scipy")
scipy.special = _types.ModuleType("cupyx.scipy.special")
scipy.special.erf = _call(_erf)
_sys.modules.update({"cupyx.scipy": scipy, "cupyx.scipy.special": scipy.special})


def scatter_add(a, slices, value):
    _launched("scatter_add")
    _np.add.at(_unwrap(a), _unwrap(slices, strict=False), _unwrap(value))


def scatter_max(a, slices, value):
    _launched("scatter_max")
    _np.maximum.at(_unwrap(a), _unwrap(slices, strict=False), _unwrap(value))


def scatter_min(a, slices, value):
    _launched("scatter_min")
    _np.minimum.at(_unwrap(a), _unwrap(slices, strict=False), _unwrap(value))
