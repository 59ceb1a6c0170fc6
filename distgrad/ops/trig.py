"""Trigonometric, hyperbolic and logarithmic elementwise functions.

Each is a forward and its derivative, written once against ``xp``; integer and bool inputs
become the default floating dtype first, as in PyTorch.
"""
import math

from ..function import Function
from ._util import binary_operands, require_tensors, unbroadcast
from .elementwise import _floating


def _unary(name, forward, derivative, from_output=False):
    """An op y = forward(xp, x) whose backward is g * derivative(xp, x or y)."""
    class Unary(Function):
        op_name = name
        saves_inputs = not from_output
        saves_output = from_output

        def forward(self, xp, a):
            out = forward(xp, a)
            self.saved = out if from_output else a
            return out

        def backward(self, xp, g):
            return (g * derivative(xp, self.saved),)

    Unary.__name__ = Unary.__qualname__ = "".join(p.title() for p in name.split("_"))

    def op(input):
        return Unary.apply(_floating(input))
    op.__name__ = op.__qualname__ = name
    return op


sin = _unary("sin", lambda xp, x: xp.sin(x), lambda xp, x: xp.cos(x))
cos = _unary("cos", lambda xp, x: xp.cos(x), lambda xp, x: -xp.sin(x))
tan = _unary("tan", lambda xp, x: xp.tan(x), lambda xp, y: 1 + y * y, from_output=True)
atan = _unary("atan", lambda xp, x: xp.arctan(x), lambda xp, x: 1 / (1 + x * x))
sinh = _unary("sinh", lambda xp, x: xp.sinh(x), lambda xp, x: xp.cosh(x))
cosh = _unary("cosh", lambda xp, x: xp.cosh(x), lambda xp, x: xp.sinh(x))
expm1 = _unary("expm1", lambda xp, x: xp.expm1(x), lambda xp, y: y + 1, from_output=True)
log1p = _unary("log1p", lambda xp, x: xp.log1p(x), lambda xp, x: 1 / (1 + x))
log2 = _unary("log2", lambda xp, x: xp.log2(x), lambda xp, x: 1 / (x * math.log(2)))
log10 = _unary("log10", lambda xp, x: xp.log10(x), lambda xp, x: 1 / (x * math.log(10)))
exp2 = _unary("exp2", lambda xp, x: xp.exp2(x), lambda xp, y: y * math.log(2), from_output=True)
asin = _unary("asin", lambda xp, x: xp.arcsin(x), lambda xp, x: 1 / xp.sqrt(1 - x * x))
acos = _unary("acos", lambda xp, x: xp.arccos(x), lambda xp, x: -1 / xp.sqrt(1 - x * x))
asinh = _unary("asinh", lambda xp, x: xp.arcsinh(x), lambda xp, x: 1 / xp.sqrt(x * x + 1))
acosh = _unary("acosh", lambda xp, x: xp.arccosh(x), lambda xp, x: 1 / xp.sqrt(x * x - 1))
atanh = _unary("atanh", lambda xp, x: xp.arctanh(x), lambda xp, x: 1 / (1 - x * x))
arcsin, arccos, arcsinh, arccosh, arctanh = asin, acos, asinh, acosh, atanh


class Atan2(Function):
    saves_inputs = True

    def forward(self, xp, a, b):
        self.saved = (a, b)
        return xp.arctan2(a, b)

    def backward(self, xp, g):
        a, b = self.saved
        na, nb = self.needs_grad
        # PyTorch's: 0, not NaN, at a = b = 0, where the squared radius has no reciprocal
        r2 = a * a + b * b
        scale = xp.where(r2 == 0, 0, g / r2)
        return (unbroadcast(scale * b, a.shape) if na else None,
                unbroadcast(-scale * a, b.shape) if nb else None)


def atan2(input, other):
    require_tensors("atan2", input, other)
    a, b = binary_operands(input, other)
    return Atan2.apply(_floating(a), _floating(b))


arctan, arctan2 = atan, atan2
