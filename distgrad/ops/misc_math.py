"""Elementwise math that models reach for now and then: logaddexp, hypot, copysign, fmod, xlogy,
logit, sinc, frac, trunc, nan_to_num, clamp_min/max, the angle conversions, signbit, heaviside.

Gradients follow PyTorch's derivative formulas (its derivatives.yaml), including where they are
zero or undefined (copysign's sign argument, fmod's divisor, heaviside: none).
"""
import contextlib
import math

from ..errors import OpRuntimeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import binary_operands, reject_bool, require_floating, unbroadcast
from .elementwise import Rounding, _floating, clamp, sign
from .sorting import sort
from .trig import _unary


def _binary(name, forward, grad_a, grad_b):
    """An op out = forward(xp, a, b) whose gradients are g * grad_x(xp, a, b, out) (None: zero
    gradient, as PyTorch's for that argument)."""
    class Binary(Function):
        op_name = name
        saves_inputs = saves_output = True

        def forward(self, xp, a, b):
            out = forward(xp, a, b)
            self.saved = (a, b, out)
            return out

        def backward(self, xp, g):
            a, b, out = self.saved
            na, nb = self.needs_grad
            ga = unbroadcast(g * grad_a(xp, a, b, out), a.shape) if na else None
            gb = None
            if nb:
                gb = unbroadcast(g * grad_b(xp, a, b, out) if grad_b else xp.zeros(g.shape, g.dtype), b.shape)
            return ga, gb

    Binary.__name__ = Binary.__qualname__ = "".join(p.title() for p in name.split("_"))
    return Binary


def _operands(op, input, other, floating):
    """Two tensors of one dtype (numbers become constants), floating when ``floating``."""
    if not isinstance(input, TensorBase) and not isinstance(other, TensorBase):
        raise OpRuntimeError(op, "expected at least one tensor operand, got two numbers")
    a, b = binary_operands(input, other)
    reject_bool(op, a, b)
    return (_floating(a), _floating(b)) if floating else (a, b)


# PyTorch's derivatives, g / (1 + exp(b - a)): exact where one operand is infinite
_LogAddExp = _binary("logaddexp", lambda xp, a, b: xp.logaddexp(a, b),
                     lambda xp, a, b, out: 1 / (1 + xp.exp(b - a)),
                     lambda xp, a, b, out: 1 / (1 + xp.exp(a - b)))


def logaddexp(input, other):
    a, b = binary_operands(input, other)
    require_floating("logaddexp", a)
    return _LogAddExp.apply(a, b)


_Hypot = _binary("hypot", lambda xp, a, b: xp.hypot(a, b), lambda xp, a, b, out: a / out,
                 lambda xp, a, b, out: b / out)


def hypot(input, other):
    a, b = binary_operands(input, other)
    require_floating("hypot", a)
    return _Hypot.apply(a, b)


def _copysign_grad(xp, a, b, out):
    # PyTorch: the sign ratio out / a, and 0 where a is 0
    safe = xp.where(a == 0, 1, a)
    return xp.where(a == 0, 0, out / safe)


_Copysign = _binary("copysign", lambda xp, a, b: xp.copysign(a, b), _copysign_grad, None)


def copysign(input, other):
    a, b = _operands("copysign", input, other, floating=True)
    return _Copysign.apply(a, b)


_Fmod = _binary("fmod", lambda xp, a, b: xp.fmod(a, b), lambda xp, a, b, out: 1,
                lambda xp, a, b, out: -xp.trunc(a / b))


def fmod(input, other):
    a, b = _operands("fmod", input, other, floating=False)
    if a.array.dtype.kind in "iu" and a.array.size and (b.array == 0).any():
        raise OpRuntimeError("fmod", "integer division by zero; make the divisor nonzero or the tensors floating")
    return _Fmod.apply(a, b)


def _xlogy_forward(xp, a, b):
    with _quiet(xp):
        out = a * xp.log(b)
    return xp.where((a == 0) & ~xp.isnan(b), 0, out)


def _xlogy_grad_a(xp, a, b, out):
    with _quiet(xp):
        grad = xp.log(b)
    return xp.where((a == 0) & (b <= 0), 0, grad)  # PyTorch masks where a = 0 and b <= 0


def _quiet(xp):
    """No NumPy warnings for log(0) and 0/0, whose inf and NaN are the results wanted (CuPy warns not)."""
    return xp.errstate(divide="ignore", invalid="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


_Xlogy = _binary("xlogy", _xlogy_forward, _xlogy_grad_a, lambda xp, a, b, out: a / b)


def xlogy(input, other):
    a, b = _operands("xlogy", input, other, floating=True)
    return _Xlogy.apply(a, b)


class Heaviside(Function):
    """0 below zero, 1 above, ``values`` at zero; PyTorch defines no derivative."""

    def forward(self, xp, a, b):
        return xp.where(a == 0, b, (a > 0).astype(a.dtype))

    def backward(self, xp, g):
        raise OpRuntimeError("heaviside", "the derivative of heaviside is not implemented (as in PyTorch)")


def heaviside(input, values):
    if input.array.dtype != values.array.dtype:
        raise OpRuntimeError("heaviside", f"input and values must have one dtype, got {input.array.dtype} and "
                                          f"{values.array.dtype}")
    return Heaviside.apply(input, values)


deg2rad = _unary("deg2rad", lambda xp, x: x * (math.pi / 180), lambda xp, x: math.pi / 180)
rad2deg = _unary("rad2deg", lambda xp, x: x * (180 / math.pi), lambda xp, x: 180 / math.pi)
_frac = _unary("frac", lambda xp, x: x - xp.trunc(x), lambda xp, x: 1)


def frac(input):
    require_floating("frac", input)
    return _frac(input)


def _sinc_grad(xp, x):
    px = math.pi * x
    safe = xp.where(x == 0, 1, x)
    return xp.where(x == 0, 0, (px * xp.cos(px) - xp.sin(px)) / (math.pi * safe * safe))


def _sinc(xp, x):
    px = math.pi * xp.where(x == 0, 1, x)
    return xp.where(x == 0, 1, xp.sin(px) / px)


sinc = _unary("sinc", _sinc, _sinc_grad)


def trunc(input):
    reject_bool("trunc", input)
    return Rounding.apply(input, fn="trunc")


fix = trunc


def signbit(input):
    """True where the sign bit is set (-0.0 and NaNs with it included); no gradient."""
    return input._wrap(input.xp.signbit(input.array))


class Logit(Function):
    saves_inputs = True

    def forward(self, xp, x, eps):
        self.saved, self.eps = x, eps
        if eps is not None:
            x = xp.clip(x, eps, 1 - eps)
        with _quiet(xp):
            return xp.log(x / (1 - x))

    def backward(self, xp, g):
        x, eps = self.saved, self.eps
        with _quiet(xp):
            grad = g / (x * (1 - x) + 0.0)  # + 0.0: at x = -0.0 the +inf of PyTorch
        if eps is None:  # PyTorch: NaN outside [0, 1]
            return (xp.where((x < 0) | (x > 1), xp.nan, grad),)
        return (xp.where((x < eps) | (x > 1 - eps), 0, grad),)


def logit(input, eps=None):
    return Logit.apply(_floating(input), eps=eps)


class NanToNum(Function):
    saves_inputs = True

    def forward(self, xp, x, nan, posinf, neginf):
        self.saved = x
        return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, xp, g):
        return (g * xp.isfinite(self.saved),)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN becomes ``nan``, infinities ``posinf``/``neginf`` (default: the dtype's extremes)."""
    if input.array.dtype.kind != "f":
        return input._wrap(input.array.copy())
    return NanToNum.apply(input, nan=nan, posinf=posinf, neginf=neginf)


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def positive(input):
    """``input`` itself (PyTorch's unary plus); bool tensors are refused, as there."""
    reject_bool("positive", input)
    return input


def sgn(input):
    """The sign; for real tensors PyTorch's sgn is sign."""
    return sign(input)


def msort(input):
    """The values sorted along the first dimension."""
    return sort(input, 0)[0]
