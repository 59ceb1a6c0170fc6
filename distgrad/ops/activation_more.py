"""More activations: SiLU, ELU/SELU/CELU, softplus, Mish, the hard ones, PReLU, GLU, log-sigmoid,
softsign, tanhshrink and softmin, with PyTorch's formulas (so its infinities and NaNs too).

Most are one ``Pointwise`` node: the value, and the derivative read back from the saved input
in backward. Those PyTorch itself writes as a composition (softsign, tanhshrink, softmin, GLU)
are the same composition here, so their gradients at the edges agree as well.
"""
import numpy

from ..errors import OpRuntimeError, OpValueError
from ..function import Function
from ._util import normalize_dim, require_floating
from .activation import sigmoid, softmax, tanh
from .elementwise import abs as _abs, mul
from .shape import chunk

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SIXTH = float(numpy.float32(1 / 6))  # PyTorch's constant in hardsigmoid's derivative, a float32


class Pointwise(Function):
    """y = rule.value(x), dy/dx = rule.slope(x); ``rule`` a class with the two as staticmethods."""
    saves_inputs = True

    def forward(self, xp, x, rule, params):
        self.saved, self.rule, self.params = x, rule, params
        return rule.value(xp, x, **params).astype(x.dtype, copy=False)

    def backward(self, xp, g):
        return ((g * self.rule.slope(xp, self.saved, **self.params)).astype(g.dtype, copy=False),)


def _sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


class _Silu:
    value = staticmethod(lambda xp, x: x / (1 + xp.exp(-x)))

    @staticmethod
    def slope(xp, x):
        s = _sigmoid(xp, x)
        return s * (1 + x * (1 - s))


class _Elu:
    """ELU, SELU and CELU: scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1))."""

    @staticmethod
    def value(xp, x, alpha, scale, input_scale):
        return xp.where(x <= 0, xp.expm1(x * input_scale) * (alpha * scale), x * scale)

    @staticmethod
    def slope(xp, x, alpha, scale, input_scale):
        return xp.where(x > 0, scale, xp.exp(x * input_scale) * (alpha * scale * input_scale))


class _Softplus:
    @staticmethod
    def value(xp, x, beta, threshold):
        return xp.where(x * beta > threshold, x, xp.log1p(xp.exp(x * beta)) / beta)

    @staticmethod
    def slope(xp, x, beta, threshold):
        z = xp.exp(x * beta)
        return xp.where(x * beta > threshold, 1, z / (z + 1))


class _Mish:
    value = staticmethod(lambda xp, x: x * xp.tanh(xp.log1p(xp.exp(x))))

    @staticmethod
    def slope(xp, x):
        t = xp.tanh(xp.log1p(xp.exp(x)))
        return t + x * _sigmoid(xp, x) * (1 - t * t)


class _Hardtanh:
    value = staticmethod(lambda xp, x, low, high: xp.minimum(xp.maximum(x, low), high))
    # A NaN input gets gradient 0, as in PyTorch's vectorized kernel (its scalar tail passes it).
    slope = staticmethod(lambda xp, x, low, high: (x > low) & (x < high))


class _Hardswish:
    value = staticmethod(lambda xp, x: x * xp.minimum(xp.maximum(x + 3, 0), 6) / 6)
    slope = staticmethod(lambda xp, x: xp.where(x <= -3, 0, xp.where(x >= 3, 1, x / 3 + 0.5)))


class _Hardsigmoid:
    value = staticmethod(lambda xp, x: xp.minimum(xp.maximum(x + 3, 0), 6) / 6)
    slope = staticmethod(lambda xp, x: ((x > -3) & (x < 3)) * _SIXTH)


class _LogSigmoid:
    value = staticmethod(lambda xp, x: xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x))))

    @staticmethod
    def slope(xp, x):
        z = xp.exp(-xp.abs(x))
        return xp.where(x < 0, 1 - z / (1 + z), z / (1 + z))


def _pointwise(name, rule, input, **params):
    require_floating(name, input)
    return Pointwise.apply(input, rule=rule, params=params)


def silu(input, inplace=False):
    return _pointwise("silu", _Silu, input)


def elu(input, alpha=1.0, inplace=False):
    return _pointwise("elu", _Elu, input, alpha=alpha, scale=1.0, input_scale=1.0)


def selu(input, inplace=False):
    return _pointwise("selu", _Elu, input, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise OpValueError("celu", "ZeroDivisionError: alpha must not be 0")
    return _pointwise("celu", _Elu, input, alpha=alpha, scale=1.0, input_scale=1.0 / alpha)


def softplus(input, beta=1.0, threshold=20.0):
    return _pointwise("softplus", _Softplus, input, beta=beta, threshold=threshold)


def mish(input, inplace=False):
    return _pointwise("mish", _Mish, input)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise OpValueError("hardtanh", f"min_val {min_val} must not exceed max_val {max_val}")
    return _pointwise("hardtanh", _Hardtanh, input, low=min_val, high=max_val)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0)


def hardswish(input, inplace=False):
    return _pointwise("hardswish", _Hardswish, input)


def hardsigmoid(input, inplace=False):
    return _pointwise("hardsigmoid", _Hardsigmoid, input)


def logsigmoid(input):
    return _pointwise("logsigmoid", _LogSigmoid, input)


def softsign(input):
    return input / (1 + _abs(input))


def tanhshrink(input):
    return input - tanh(input)


def softmin(input, dim=None, dtype=None):
    return softmax(-input, dim, dtype)


def glu(input, dim=-1):
    if input.ndim == 0:
        raise OpRuntimeError("glu", "glu does not support scalars because halving size must be even")
    axis = normalize_dim(dim, input.ndim, "glu")[0]
    if input.shape[axis] % 2:
        raise OpRuntimeError("glu", f"Halving dimension must be even, but dimension {axis} is size "
                                    f"{input.shape[axis]} (input of shape {tuple(input.shape)})")
    first, second = chunk(input, 2, axis)
    return mul(first, sigmoid(second))


class Prelu(Function):
    """x if x > 0 else weight * x, one weight per channel (dim 1) or one for all."""
    saves_inputs = True

    def forward(self, xp, x, weight):
        w = weight.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim >= 2 and weight.size > 1 else weight.reshape(())
        self.saved = (x, w)
        return xp.where(x > 0, x, w * x)

    def backward(self, xp, g):
        x, w = self.saved
        gx = xp.where(x > 0, g, w * g) if self.needs_grad[0] else None
        gw = None
        if self.needs_grad[1]:
            part = xp.where(x > 0, 0, x * g)
            if w.ndim:
                gw = part.sum(axis=tuple(i for i in range(x.ndim) if i != 1))
            else:
                gw = part.sum().reshape(1)
            gw = gw.reshape(self.inputs[1].shape).astype(g.dtype, copy=False)
        return (gx, gw)


def prelu(input, weight):
    require_floating("prelu", input)
    if weight.ndim > 1:
        raise OpRuntimeError("prelu", f"weight must be 0-D or 1-D, got shape {tuple(weight.shape)}")
    count = weight.numel()
    channels = input.shape[1] if input.ndim >= 2 else 1
    if count != 1 and count != channels:
        raise OpRuntimeError("prelu", f"Mismatch of parameter numbers and input channel size. Found parameter "
                                      f"numbers = {count} and channel size = {channels} (input of shape "
                                      f"{tuple(input.shape)})")
    return Prelu.apply(input, weight)


__all__ = ["celu", "elu", "glu", "hardsigmoid", "hardswish", "hardtanh", "logsigmoid", "mish", "prelu", "relu6",
           "selu", "silu", "softmin", "softplus", "softsign", "tanhshrink"]
