"""Elementwise arithmetic and math, with broadcasting."""
import numbers

from .. import dtypes
from ..errors import OpRuntimeError, OpTypeError, OpValueError
from ..function import Function, named_error
from ..tensor_base import TensorBase
from ._util import as_tensor_like, binary_operands, cast, is_bool, reject_bool, require_tensors, unbroadcast


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
    saves_inputs = ((1,), (0,))  # each gradient reads the other input

    def forward(self, xp, a, b):
        self.saved = (a, b)
        return a * b

    def backward(self, xp, g):
        a, b = self.saved
        na, nb = self.needs_grad
        return (unbroadcast(g * b, a.shape) if na else None,
                unbroadcast(g * a, b.shape) if nb else None)


class Div(Function):
    saves_inputs = ((1,), (0, 1))

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

    def forward(self, xp, a, b, bool_exponent=False):
        self.bool_exponent = bool_exponent
        if a.dtype.kind in "iu":
            return _integer_pow(xp, a, b)
        out = a ** b
        self.saved = (a, b, out)
        return out

    def backward(self, xp, g):
        a, b, out = self.saved
        na, nb = self.needs_grad
        ga = gb = None
        if na:
            if self.bool_exponent:  # as PyTorch, whose backward subtracts 1 from the exponent
                raise OpRuntimeError("pow", "no gradient with respect to the base for a bool exponent; "
                                            "convert the exponent with .float() first")
            # 0 where the exponent is 0, also at a zero base (b * a**(b-1) would be 0 * inf)
            ga = unbroadcast(xp.where(b == 0, 0, g * b * a ** (b - 1)), a.shape)
        if nb:
            # d/db a**b = a**b log a: NaN for a negative base, -inf at 0 for b < 0; 0 at 0 for b >= 0
            gb = unbroadcast(xp.where((a == 0) & (b >= 0), 0, g * out * xp.log(a)), b.shape)
        return ga, gb


def _integer_pow(xp, a, b):
    """a ** b for integers, negative exponents included (NumPy refuses them): as PyTorch,
    1 ** -n = 1, (-1) ** -n = +-1 and every other base gives 0."""
    negative = b < 0
    if not negative.any():
        return a ** b
    special = xp.where(a == 1, 1, xp.where(a == -1, 1 - 2 * (b & 1), 0))
    return xp.where(negative, special, a ** xp.where(negative, 0, b)).astype(a.dtype)


class PowScalar(Function):
    saves_inputs = True

    def forward(self, xp, a, exponent):
        self.saved = a
        self.exponent = exponent
        # C pow gives -0.0 ** 0.5 = 0 and (-inf) ** 0.5 = inf; PyTorch computes these two
        # exponents as sqrt and rsqrt (-0.0 and NaN; -inf and NaN)
        if exponent == 0.5 and a.dtype.kind == "f":
            return xp.sqrt(a)
        if exponent == -0.5 and a.dtype.kind == "f":
            return 1 / xp.sqrt(a)
        return a ** exponent

    def backward(self, xp, g):
        e = self.exponent
        if e == 2:
            return (g * 2 * self.saved,)
        if e == 0 and e is not False:  # not 0 * a**-1, NaN at a = 0 (which PyTorch keeps for False)
            return (xp.zeros_like(g),)
        if e == 0.5:  # a ** -0.5 as rsqrt, like the forward
            return (g * 0.5 / xp.sqrt(self.saved),)
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
        return (g * _sign(xp, self.saved),)


def _sign(xp, a):
    """sign, 0 at NaN as PyTorch (NumPy gives NaN)."""
    if a.dtype.kind != "f":
        return xp.sign(a)
    return (a > 0).astype(a.dtype) - (a < 0)


class Rsqrt(Function):
    saves_output = True

    def forward(self, xp, a):
        # 1 / sqrt: rsqrt(-0.0) = -inf and rsqrt(-inf) = NaN, as PyTorch (a ** -0.5 gives inf and 0)
        self.saved = 1 / xp.sqrt(a)
        return self.saved

    def backward(self, xp, g):
        return (-0.5 * g * self.saved ** 3,)


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


class ClampTensor(Function):
    """clamp with tensor bounds: min(max(x, lo), hi), NaN from any operand propagating. The
    gradient follows PyTorch: x gets it where lo <= x <= hi (ties included), lo where x < lo
    (and lo < hi), hi where x > hi or hi < lo."""
    saves_inputs = True

    def forward(self, xp, a, *bounds, has_min, has_max):
        lo = bounds[0] if has_min else None
        hi = bounds[-1] if has_max else None
        self.saved = (a, lo, hi)
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out

    def backward(self, xp, g):
        a, lo, hi = self.saved
        zero = xp.zeros((), dtype=g.dtype)
        keep = (a >= lo) if lo is not None else None
        if hi is not None:
            keep = (a <= hi) if keep is None else keep & (a <= hi)
        grads = [unbroadcast(xp.where(keep, g, zero), a.shape) if self.needs_grad[0] else None]
        if lo is not None:
            to_lo = a < lo
            if hi is not None:
                to_lo &= lo < hi
            grads.append(unbroadcast(xp.where(to_lo, g, zero), lo.shape) if self.needs_grad[1] else None)
        if hi is not None:
            to_hi = a > hi
            if lo is not None:
                to_hi |= hi < lo
            grads.append(unbroadcast(xp.where(to_hi, g, zero), hi.shape) if self.needs_grad[-1] else None)
        return tuple(grads)


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
    """As PyTorch: the gradient goes to the selected operand, ties share it equally, and an
    operand loses it only where it compares smaller (larger): a NaN sends it to both."""
    half = xp.where(a == b, g * 0.5, g)
    zero = xp.zeros((), dtype=g.dtype)
    ga = unbroadcast(xp.where((a < b) if larger else (a > b), zero, half), a.shape) if needs[0] else None
    gb = unbroadcast(xp.where((a > b) if larger else (a < b), zero, half), b.shape) if needs[1] else None
    return ga, gb


class RoundedDiv(Function):
    """div with rounding_mode 'floor' or 'trunc': PyTorch defines its gradient as zero."""

    def forward(self, xp, a, b, mode):
        self.shapes = (a.shape, b.shape)
        if mode == "floor":
            return xp.floor_divide(a, b)
        if a.dtype.kind == "f":
            return xp.trunc(a / b)
        q = xp.floor_divide(a, b)  # integers: floor, moved towards 0 where inexact with mixed signs
        return q + ((q < 0) & (q * b != a))

    def backward(self, xp, g):
        return tuple(xp.zeros(s, dtype=g.dtype) if n else None for s, n in zip(self.shapes, self.needs_grad))


class FloorDivide(RoundedDiv):
    """a // b: unlike div(rounding_mode='floor'), PyTorch implements no derivative."""

    def backward(self, xp, g):
        raise OpRuntimeError("floor_divide", "a // b has no derivative (as in PyTorch); use "
                                             "div(a, b, rounding_mode='floor'), whose gradient is zero")


class Remainder(Function):
    saves_inputs = True

    def forward(self, xp, a, b):
        self.saved = (a, b)
        return xp.remainder(a, b)  # Python's sign convention, as PyTorch: -0.5 % inf is inf

    def backward(self, xp, g):
        a, b = self.saved
        na, nb = self.needs_grad
        ga = unbroadcast(g, a.shape) if na else None
        gb = unbroadcast(-g * xp.floor_divide(a, b), b.shape) if nb else None
        return ga, gb


class ScalarRemainder(Remainder):
    """number % tensor: PyTorch implements no derivative with respect to the tensor."""

    def backward(self, xp, g):
        raise OpRuntimeError("remainder", "number % tensor has no derivative with respect to the tensor "
                                          "(as in PyTorch); make the number a tensor for tensor % tensor")


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

def _scaled(op, other, alpha):
    """other * alpha for add/sub, other already in the result dtype."""
    if isinstance(alpha, float) and other.array.dtype.kind in "biu":
        raise OpTypeError(op, f"alpha={alpha} is a float but the result is {other.array.dtype}; for integer "
                              "tensors alpha must be an integer (or convert the tensors with .float())")
    return mul(other, alpha)


def add(input, other, alpha=1):
    a, b = binary_operands(input, other)
    if alpha != 1:
        b = _scaled("add", b, alpha)
    return Add.apply(a, b)


def sub(input, other, alpha=1):
    reject_bool("sub", input, other, how="use ^ or logical_xor to combine masks, ~ to invert one")
    a, b = binary_operands(input, other)
    if alpha != 1:
        b = _scaled("sub", b, alpha)
    return Sub.apply(a, b)


def mul(input, other):
    return Mul.apply(*binary_operands(input, other))


def div(input, other, rounding_mode=None):
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise OpValueError("div", f"rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        return RoundedDiv.apply(*_division_operands("div", input, other), mode=rounding_mode)
    a, b = binary_operands(input, other)
    if a.array.dtype.kind in "biu":  # true division of integers gives floats, as in PyTorch
        return Div.apply(_floating(a), _floating(b))
    return Div.apply(a, b)


def floor_divide(input, other):
    return FloorDivide.apply(*_division_operands("floor_divide", input, other), mode="floor")


def remainder(input, other):
    fn = Remainder if isinstance(input, TensorBase) else ScalarRemainder
    return fn.apply(*_division_operands("remainder", input, other))


def _division_operands(op, input, other):
    """Promoted operands of an integer-capable division; integer division by zero raises, as in
    PyTorch (NumPy returns 0)."""
    a, b = binary_operands(input, other)
    kind = a.array.dtype.kind
    if kind == "b":
        raise OpTypeError(op, "not supported for two bool operands; convert them with .long() first")
    if kind in "iu" and a.array.size and b.array.size and not b.array.all():
        raise OpRuntimeError(op, "ZeroDivisionError: integer division by zero; mask the zero divisors "
                                 "or divide floating tensors")
    return a, b


def pow(input, exponent):
    if isinstance(input, TensorBase) and isinstance(exponent, (int, float)):
        kind = input.array.dtype.kind
        if isinstance(exponent, bool):
            if kind == "b":  # x ** True is x, x ** False all True
                return input._wrap(input.array | (not exponent))
        elif kind in "biu":
            if isinstance(exponent, float):
                input = _floating(input)
            elif exponent < 0:
                raise OpValueError("pow", f"integers to negative integer powers are not allowed (dtype "
                                          f"{input.array.dtype}, exponent {exponent}); convert with .float() first")
            elif kind == "b":
                input = cast(input, dtypes.int64)
        return PowScalar.apply(input, exponent=exponent)
    a, b = binary_operands(input, exponent)
    if a.array.dtype.kind == "b":
        raise OpTypeError("pow", "not supported for two bool operands; convert them with .long() first")
    return Pow.apply(a, b, bool_exponent=isinstance(exponent, TensorBase) and is_bool(exponent))


def neg(input):
    reject_bool("neg", input, how="use ~ or logical_not to invert a mask")
    return Neg.apply(input)


def exp(input):
    return Exp.apply(_floating(input))


def log(input):
    return Log.apply(_floating(input))


def sqrt(input):
    return Sqrt.apply(_floating(input))


def abs(input):
    reject_bool("abs", input)
    return Abs.apply(input)


def square(input):
    return pow(input, 2)


def rsqrt(input):
    return Rsqrt.apply(_floating(input))


def check_bounds(op, min, max):
    if min is None and max is None:
        raise OpRuntimeError(op, "at least one of min and max must be given")


def clamp(input, min=None, max=None):
    check_bounds("clamp", min, max)
    tensor_min, tensor_max = isinstance(min, TensorBase), isinstance(max, TensorBase)
    if tensor_min != tensor_max and min is not None and max is not None:
        # with a number for the other bound, a 0-d tensor that requires no gradient is a number
        min, max = _number_if_0d(min), _number_if_0d(max)
        tensor_min, tensor_max = isinstance(min, TensorBase), isinstance(max, TensorBase)
    if tensor_min or tensor_max:
        if (min is not None and not tensor_min) or (max is not None and not tensor_max):
            raise OpTypeError("clamp", "min and max must both be tensors or both be numbers (one is a "
                                       f"{type(min if tensor_max else max).__name__}); make both tensors")
        bounds = [t for t in (min, max) if t is not None]
        target = dtypes.result_type([input.array] + [t.array for t in bounds])
        operands = [t if t.array.dtype == target else cast(t, target) for t in [input] + bounds]
        return ClampTensor.apply(*operands, has_min=tensor_min, has_max=tensor_max)
    target = input.array.dtype
    for bound in (min, max):
        if bound is not None:
            target = dtypes.scalar_dtype(bound, target)
    if target != input.array.dtype:  # integer input, float bounds: the default float dtype
        input = cast(input, target)
    return Clamp.apply(input, min=min, max=max)


clip = clamp


def _number_if_0d(bound):
    if isinstance(bound, TensorBase) and bound.ndim == 0 and not bound.requires_grad:
        return bound.item()
    return bound


def maximum(input, other):
    require_tensors("maximum", input, other)
    return Maximum.apply(*binary_operands(input, other))


def minimum(input, other):
    require_tensors("minimum", input, other)
    return Minimum.apply(*binary_operands(input, other))


def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if not isinstance(input, TensorBase) and not isinstance(other, TensorBase):
        if not isinstance(condition, TensorBase):
            raise OpTypeError("where", "expected a tensor condition or branch, got none; pass tensors")
        # two Python scalars (PyTorch accepts them): constants of their dtypes, next to the condition
        input, other = as_tensor_like(input, condition), as_tensor_like(other, condition)
    like = input if isinstance(input, TensorBase) else other
    condition = as_tensor_like(condition, like)
    if condition.array.dtype.kind != "b":
        raise OpTypeError("where", f"condition must be a bool tensor, got dtype {condition.array.dtype}")
    a, b = binary_operands(input, other)
    return Where.apply(condition, a, b)


def clone(input):
    return Clone.apply(input)


def _floating(t):
    """Integer and bool tensors become the default floating dtype, as in PyTorch."""
    return t if t.array.dtype.kind == "f" else cast(t, dtypes.get_default_dtype())


# Comparisons and logic produce bool tensors and carry no gradient.
def _compare(name, shown=None, tensors_only=False):
    def compare(input, other):
        if tensors_only:
            require_tensors(name, input, other)
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
logical_and, logical_or, logical_xor = (_compare(n, tensors_only=True)
                                         for n in ("logical_and", "logical_or", "logical_xor"))


def eq_operator(input, other):
    """t == x for x not a tensor, number or array (None, a list, a string) is False, as in PyTorch
    (Python's fallback once this returns NotImplemented); eq(t, None) raises."""
    return eq(input, other) if _comparable(other) else NotImplemented


def ne_operator(input, other):
    return ne(input, other) if _comparable(other) else NotImplemented


def _comparable(other):
    return isinstance(other, (TensorBase, numbers.Number)) or hasattr(other, "dtype")


def _bitwise(name, array_function=None):
    """&, |, ^, << and >>: bitwise on integers (&, |, ^ logical on bools); PyTorch defines them
    on no float. ``array_function``: the array library's name, when it is not ``name``."""
    def bitwise(input, other):
        a, b = binary_operands(input, other)
        _check_integral(name, a)
        try:
            return a._wrap(getattr(a.xp, array_function or name)(a.array, b.array))
        except ValueError as e:  # shapes that do not broadcast
            raise named_error(name, (a.array, b.array), e) from None
    bitwise.__name__ = name
    return bitwise


bitwise_and, bitwise_or, bitwise_xor = (_bitwise(n) for n in ("bitwise_and", "bitwise_or", "bitwise_xor"))
bitwise_left_shift = _bitwise("bitwise_left_shift", "left_shift")
bitwise_right_shift = _bitwise("bitwise_right_shift", "right_shift")


def bitwise_not(input):
    _check_integral("bitwise_not", input)
    return input._wrap(input.xp.invert(input.array))


def _check_integral(op, t):
    if t.array.dtype.kind not in "biu":
        raise OpTypeError(op, f"not defined for dtype {t.array.dtype}; use integer or bool tensors")


def _no_grad_unary(name):
    """An elementwise function whose result carries no gradient (masks)."""
    def unary(input):
        return input._wrap(getattr(input.xp, name)(input.array))
    unary.__name__ = name
    return unary


logical_not, isnan, isinf, isfinite = (_no_grad_unary(n) for n in ("logical_not", "isnan", "isinf", "isfinite"))


class Rounding(Function):
    """floor, ceil, round, sign: piecewise constant, so the gradient is zero, but the result of
    an input that requires grad does too, as in PyTorch."""

    def forward(self, xp, a, fn, decimals=0):
        self.shape = a.shape
        if fn == "sign":
            return _sign(xp, a)
        if a.dtype.kind != "f":  # integers are whole already (NumPy's floor would make floats)
            return a.copy()
        if decimals > 0:  # as PyTorch: scale by a power of ten, round half to even, scale back
            return xp.round(a * 10.0 ** decimals) / 10.0 ** decimals
        if decimals < 0:
            return xp.round(a / 10.0 ** -decimals) * 10.0 ** -decimals
        return getattr(xp, fn)(a)

    def backward(self, xp, g):
        return (xp.zeros(self.shape, dtype=g.dtype),)


def floor(input):
    reject_bool("floor", input)
    return Rounding.apply(input, fn="floor")


def ceil(input):
    reject_bool("ceil", input)
    return Rounding.apply(input, fn="ceil")


def sign(input):
    if input.array.dtype.kind == "b":
        return input._wrap(input.array.copy())
    return Rounding.apply(input, fn="sign")


def round(input, decimals=0):
    reject_bool("round", input)
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise OpTypeError("round", f"decimals must be an int, got {type(decimals).__name__} {decimals!r}")
    if decimals != 0 and input.array.dtype.kind != "f":
        raise OpTypeError("round", f"decimals={decimals} needs a floating tensor, got {input.array.dtype}; "
                                   "convert with .float() first")
    return Rounding.apply(input, fn="round", decimals=decimals)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    if input.array.dtype != other.array.dtype:
        raise OpTypeError("allclose", f"dtypes differ ({input.array.dtype} and {other.array.dtype}); "
                                      "convert one with .to(other.dtype)")
    try:
        return bool(input.xp.allclose(input.array, other.array, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError as e:  # shapes that do not broadcast
        raise named_error("allclose", (input.array, other.array), e) from None


def equal(input, other):
    return input.shape == other.shape and bool((input.array == other.array).all())


def nonzero(input, as_tuple=False):
    # A 0-d tensor counts as one element: as_tuple gives one index tensor, else (k, 0) indices.
    idx = input.xp.nonzero(input.array.reshape(1) if input.ndim == 0 else input.array)
    if as_tuple:
        return tuple(input._wrap(i.astype("int64")) for i in idx)
    return input._wrap(input.xp.stack(idx, axis=1)[:, :input.ndim].astype("int64"))
