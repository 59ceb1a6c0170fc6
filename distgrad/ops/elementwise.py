"""Elementwise arithmetic and math, with broadcasting."""
from ..errors import OpTypeError, OpValueError
from ..function import Function, named_error
from ..tensor_base import TensorBase
from ._util import as_tensor_like, binary_operands, unbroadcast


class Clone(Function):
    def forward(self, xp, x):
        return x.copy()

    def backward(self, xp, g):
        return (g,)


class Add(Function):
    def forward(self, xp, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, xp, g):
        sa, sb = self.shapes
        na, nb = self.needs_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)


class Sub(Function):
    def forward(self, xp, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, xp, g):
        sa, sb = self.shapes
        na, nb = self.needs_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(-g, sb) if nb else None)


class Mul(Function):
    saves_inputs = True

    def forward(self, xp, a, b):
        self.saved = (a, b)
        return a * b

    def backward(self, xp, g):
        a, b = self.saved
        na, nb = self.needs_grad
        return (unbroadcast(g * b, a.shape) if na else None,
                unbroadcast(g * a, b.shape) if nb else None)


class Div(Function):
    saves_inputs = True

    def forward(self, xp, a, b):
        self.saved = (a, b)
        return a / b

    def backward(self, xp, g):
        a, b = self.saved
        na, nb = self.needs_grad
        ga = unbroadcast(g / b, a.shape) if na else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if nb else None
        return ga, gb


class Pow(Function):
    saves_inputs = True

    def forward(self, xp, a, b):
        out = a ** b
        self.saved = (a, b, out)
        return out

    def backward(self, xp, g):
        a, b, out = self.saved
        na, nb = self.needs_grad
        ga = unbroadcast(g * b * a ** (b - 1), a.shape) if na else None
        gb = None
        if nb:
            safe_log = xp.log(xp.where(a > 0, a, 1))  # d/db a**b = a**b log a; 0 where a <= 0
            gb = unbroadcast(g * out * safe_log, b.shape)
        return ga, gb


class PowScalar(Function):
    saves_inputs = True

    def forward(self, xp, a, exponent):
        self.saved = a
        self.exponent = exponent
        return a ** exponent

    def backward(self, xp, g):
        e = self.exponent
        if e == 2:
            return (g * 2 * self.saved,)
        return (g * e * self.saved ** (e - 1),)


class Neg(Function):
    def forward(self, xp, a):
        return -a

    def backward(self, xp, g):
        return (-g,)


class Exp(Function):
    saves_output = True

    def forward(self, xp, a):
        self.saved = xp.exp(a)
        return self.saved

    def backward(self, xp, g):
        return (g * self.saved,)


class Log(Function):
    saves_inputs = True

    def forward(self, xp, a):
        self.saved = a
        return xp.log(a)

    def backward(self, xp, g):
        return (g / self.saved,)


class Sqrt(Function):
    saves_output = True

    def forward(self, xp, a):
        self.saved = xp.sqrt(a)
        return self.saved

    def backward(self, xp, g):
        return (g / (2 * self.saved),)


class Abs(Function):
    saves_inputs = True

    def forward(self, xp, a):
        self.saved = a
        return xp.abs(a)

    def backward(self, xp, g):
        return (g * xp.sign(self.saved),)


class Clamp(Function):
    saves_inputs = True

    def forward(self, xp, a, min=None, max=None):
        self.saved = a
        self.bounds = (min, max)
        return xp.clip(a, min, max)

    def backward(self, xp, g):
        a = self.saved
        lo, hi = self.bounds
        keep = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            keep &= a >= lo
        if hi is not None:
            keep &= a <= hi
        return (g * keep,)


class Maximum(Function):
    saves_inputs = True

    def forward(self, xp, a, b):
        self.saved = (a, b)
        return xp.maximum(a, b)

    def backward(self, xp, g):
        return _select_backward(xp, g, *self.saved, self.needs_grad, larger=True)


class Minimum(Function):
    saves_inputs = True

    def forward(self, xp, a, b):
        self.saved = (a, b)
        return xp.minimum(a, b)

    def backward(self, xp, g):
        return _select_backward(xp, g, *self.saved, self.needs_grad, larger=False)


def _select_backward(xp, g, a, b, needs, larger):
    """The gradient goes to the selected operand; ties share it equally (as PyTorch)."""
    wins = (a > b) if larger else (a < b)
    share = wins + 0.5 * (a == b)
    ga = unbroadcast(g * share, a.shape) if needs[0] else None
    gb = unbroadcast(g * (1 - share), b.shape) if needs[1] else None
    return ga, gb


class Where(Function):
    def forward(self, xp, condition, a, b):
        self.condition = condition
        self.shapes = (a.shape, b.shape)
        return xp.where(condition, a, b)

    def backward(self, xp, g):
        _, na, nb = self.needs_grad
        zero = xp.zeros((), dtype=g.dtype)
        ga = unbroadcast(xp.where(self.condition, g, zero), self.shapes[0]) if na else None
        gb = unbroadcast(xp.where(self.condition, zero, g), self.shapes[1]) if nb else None
        return None, ga, gb


# ---------------------------------------------------------------- functional API

def add(input, other, alpha=1):
    if alpha != 1:
        other = mul(other, alpha)
    return Add.apply(*binary_operands(input, other))


def sub(input, other, alpha=1):
    if alpha != 1:
        other = mul(other, alpha)
    return Sub.apply(*binary_operands(input, other))


def mul(input, other):
    return Mul.apply(*binary_operands(input, other))


def div(input, other, rounding_mode=None):
    a, b = binary_operands(input, other)
    if rounding_mode is not None or a.array.dtype.kind in "biu":
        if rounding_mode is None:  # true division of integers gives floats, as in PyTorch
            return Div.apply(a.float(), b.float())
        xp = a.xp
        op = xp.floor_divide if rounding_mode == "floor" else (lambda x, y: xp.trunc(x / y).astype(x.dtype))
        return a._wrap(op(a.array, b.array))
    return Div.apply(a, b)


def pow(input, exponent):
    if isinstance(input, TensorBase) and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        if input.array.dtype.kind in "biu" and isinstance(exponent, float):
            input = input.float()
        return PowScalar.apply(input, exponent=exponent)
    return Pow.apply(*binary_operands(input, exponent))


def neg(input):
    return Neg.apply(input)


def exp(input):
    return Exp.apply(_floating(input))


def log(input):
    return Log.apply(_floating(input))


def sqrt(input):
    return Sqrt.apply(_floating(input))


def abs(input):
    return Abs.apply(input)


def square(input):
    return PowScalar.apply(input, exponent=2)


def rsqrt(input):
    return PowScalar.apply(_floating(input), exponent=-0.5)


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise OpValueError("clamp", "at least one of min and max must be given")
    if isinstance(min, TensorBase) or isinstance(max, TensorBase):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return Clamp.apply(input, min=min, max=max)


clip = clamp


def maximum(input, other):
    return Maximum.apply(*binary_operands(input, other))


def minimum(input, other):
    return Minimum.apply(*binary_operands(input, other))


def where(condition, input=None, other=None):
    if input is None and other is None:
        from .indexing import nonzero  # which imports this module
        return nonzero(condition, as_tuple=True)
    like = input if isinstance(input, TensorBase) else other
    condition = as_tensor_like(condition, like)
    if condition.array.dtype.kind != "b":
        raise OpTypeError("where", f"condition must be a bool tensor, got dtype {condition.array.dtype}")
    a, b = binary_operands(input, other)
    return Where.apply(condition, a, b)


def clone(input):
    return Clone.apply(input)


def _floating(t):
    return t if t.array.dtype.kind == "f" else t.float()


# Comparisons and logic produce bool tensors and carry no gradient.
def _compare(name, shown=None):
    def compare(input, other):
        a, b = binary_operands(input, other)
        try:
            return a._wrap(getattr(a.xp, name)(a.array, b.array))
        except ValueError as e:  # shapes that do not broadcast: name the op and the shapes
            raise named_error(shown or name, (a.array, b.array), e) from None
    compare.__name__ = name
    return compare


eq, ne, lt, le, gt, ge = (_compare(n, shown) for n, shown in (
    ("equal", "eq"), ("not_equal", "ne"), ("less", "lt"), ("less_equal", "le"), ("greater", "gt"),
    ("greater_equal", "ge")))
logical_and, logical_or, logical_xor = (_compare(n) for n in ("logical_and", "logical_or", "logical_xor"))


def _no_grad_unary(name):
    """An elementwise function whose result carries no gradient (masks, rounding)."""
    def unary(input):
        return input._wrap(getattr(input.xp, name)(input.array))
    unary.__name__ = name
    return unary


logical_not, sign, isnan, isinf, isfinite, floor, ceil, round = (_no_grad_unary(n) for n in (
    "logical_not", "sign", "isnan", "isinf", "isfinite", "floor", "ceil", "round"))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(input.xp.allclose(input.array, other.array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    return input.shape == other.shape and bool((input.array == other.array).all())
