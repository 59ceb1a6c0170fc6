"""erf and erfinv. NumPy has neither, so the values are computed in float64 on the host with
the standard library's erf/erfc (exact to the last bits) and moved back; the derivatives are
elementwise array expressions."""
import math

import numpy

from ..backend import device_of, move
from ..function import Function
from .elementwise import _floating

_erf_object, _erfc_object = numpy.frompyfunc(math.erf, 1, 1), numpy.frompyfunc(math.erfc, 1, 1)


def _erf(x):
    return numpy.asarray(_erf_object(x), dtype=numpy.float64)  # a 0-d input gives a Python float


def _erfc(x):
    return numpy.asarray(_erfc_object(x), dtype=numpy.float64)
_TWO_OVER_ROOT_PI = 2 / math.sqrt(math.pi)


def _on_host(fn, x):
    host = numpy.asarray(move(x, "cpu"), dtype=numpy.float64)
    return move(numpy.asarray(fn(host), dtype=numpy.float64).astype(x.dtype), device_of(x))


def _erfinv(y):
    """Newton's method on erf for small |y| and on erfc near |y| = 1 (no cancellation either way)."""
    a = numpy.abs(y)
    small, inside = a < 0.5, a < 1
    with numpy.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = numpy.sqrt(numpy.maximum(-numpy.log((1 - a) * (1 + a)), 0))
        x = numpy.where(small, a * (math.sqrt(math.pi) / 2), w)
        x = numpy.where(inside, x, 0.0)
        for _ in range(60):
            residual = numpy.where(small, _erf(x) - a,
                                   (1 - a) - _erfc(x))
            step = numpy.where(inside, residual / (_TWO_OVER_ROOT_PI * numpy.exp(-x * x)), 0.0)
            x = x - step
            if not (numpy.abs(step) > 1e-16 * numpy.abs(x)).any():
                break
    x = numpy.where(a == 1, numpy.inf, numpy.where(a > 1, numpy.nan, x))
    return numpy.where(numpy.isnan(y), numpy.nan, numpy.copysign(x, y))


class Erf(Function):
    saves_inputs = True

    def forward(self, xp, x):
        self.saved = x
        return _on_host(_erf, x)

    def backward(self, xp, g):
        x = self.saved
        return (g * (_TWO_OVER_ROOT_PI * xp.exp(-x * x)),)


class Erfinv(Function):
    saves_output = True

    def forward(self, xp, y):
        self.saved = _on_host(_erfinv, y)
        return self.saved

    def backward(self, xp, g):
        x = self.saved
        return (g * ((math.sqrt(math.pi) / 2) * xp.exp(x * x)),)


def erf(input):
    return Erf.apply(_floating(input))


def erfinv(input):
    return Erfinv.apply(_floating(input))
