"""Elementwise arithmetic, dtypes and type promotion against PyTorch (the specification):
values, dtypes and float64 gradients, and errors where PyTorch raises."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import distgrad as dg  # noqa: E402

INF, NAN = float("inf"), float("nan")


def pair(values, dtype="float64", requires_grad=None):
    """The same tensor in both frameworks (requires_grad defaults to: floating)."""
    array = np.array(values, dtype=dtype)
    grad = array.dtype.kind == "f" if requires_grad is None else requires_grad
    return (torch.tensor(array).requires_grad_(grad), dg.tensor(array, requires_grad=grad))


def check(fn, *pairs, weight_seed=0):
    """fn under both frameworks: equal dtype and values, and equal gradients of a weighted sum."""
    t_in, d_in = [p[0] for p in pairs], [p[1] for p in pairs]
    t_out, d_out = fn(torch, *t_in), fn(dg, *d_in)
    assert str(t_out.dtype).replace("torch.", "") == np.dtype(d_out.dtype).name
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-12, atol=0)
    if not t_out.requires_grad:
        return
    w = np.random.default_rng(weight_seed).standard_normal(tuple(t_out.shape))
    (t_out * torch.tensor(w)).sum().backward()
    (d_out * dg.tensor(w)).sum().backward()
    for t, d in zip(t_in, d_in):
        if t.requires_grad:
            expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
            got = np.zeros(t.shape) if d.grad is None else d.grad.numpy()
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def both_raise(fn, *pairs, backward=False):
    for k, (module, exc) in enumerate(((torch, Exception), (dg, Exception))):
        inputs = [p[k] for p in pairs]
        with pytest.raises(exc):
            out = fn(module, *inputs)
            if backward:
                out.sum().backward()


# ---------------------------------------------------------------- type promotion
@pytest.mark.parametrize("dim_dtype, zero_dtype", [
    ("float32", "float64"), ("int32", "int64"), ("int8", "int64"), ("float16", "float32"),
    ("int32", "float64"), ("bool", "int64"), ("bool", "float64"), ("uint8", "int16")])
@pytest.mark.parametrize("op", ["add", "mul", "maximum", "eq", "where"])
def test_0d_tensor_widens_only_across_categories(dim_dtype, zero_dtype, op):
    def fn(m, a, b):
        if op == "where":
            return m.where(a > 0, a, b)
        return getattr(m, op)(a, b)
    for a, b in ((pair([1, 2], dim_dtype, False), pair(1, zero_dtype, False)),
                 (pair(1, zero_dtype, False), pair([1, 2], dim_dtype, False))):
        check(fn, a, b)


def test_0d_float64_that_requires_grad_does_not_widen_float32():
    a, b = pair([1.5, -2.0], "float32"), pair(3.0, "float64")
    check(lambda m, x, y: x * y, a, b)


# ---------------------------------------------------------------- floor division and remainder
def test_remainder_by_infinity_follows_the_divisor_sign():
    x = pair([0.5, -0.5, 0.0, 3.0])
    check(lambda m, a: a % INF, x)
    check(lambda m, a: a % -INF, x)
    check(lambda m, a, b: a % b, x, pair([INF, INF, -INF, 2.0]))


@pytest.mark.parametrize("number", [2, -3, 2.5, 0])
def test_number_on_the_left_of_floordiv_and_mod(number):
    for dtype in ("int64", "float64"):
        x = pair([3, -3, 2, 7], dtype, False)
        check(lambda m, a: number // a, x)
        check(lambda m, a: number % a, x)


def test_number_mod_tensor_has_no_derivative():
    both_raise(lambda m, a: 5.0 % a, pair([3.0, -2.0]), backward=True)


def test_floor_divide_operator_has_no_derivative():
    both_raise(lambda m, a, b: a // b, pair([3.0, -2.0]), pair([2.0, 2.0]), backward=True)


@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_div_rounding_mode_keeps_requires_grad_with_zero_gradient(mode):
    x, y = pair([3.5, -2.5, 7.0]), pair([2.0, 2.0, -3.0])
    check(lambda m, a, b: m.div(a, b, rounding_mode=mode), x, y)
    assert dg.div(x[1], 2, rounding_mode=mode).requires_grad


@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_integer_div_rounding_mode(mode):
    a, b = pair([7, -7, 7, -7, 6, 0], "int64"), pair([2, 2, -2, -2, -3, 5], "int64")
    check(lambda m, x, y: m.div(x, y, rounding_mode=mode), a, b)
    check(lambda m, x, y: m.div(x, 2.0, rounding_mode=mode), a, b)


def test_remainder_gradient():
    check(lambda m, a, b: a % b, pair([3.5, -2.5, 7.0]), pair([2.0, 2.0, -3.0]))


@pytest.mark.parametrize("fn", [lambda m, a, b: a // b, lambda m, a, b: a % b,
                                lambda m, a, b: m.div(a, b, rounding_mode="floor"),
                                lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
                                lambda m, a, b: a // 0])
def test_integer_division_by_zero_raises(fn):
    both_raise(fn, pair([1, 2], "int64"), pair([1, 0], "int64"))


def test_integer_division_by_zero_of_an_empty_tensor():
    check(lambda m, a: a % 0, pair(np.zeros(0), "int64"))


def test_div_unknown_rounding_mode_raises():
    both_raise(lambda m, a: m.div(a, 2, rounding_mode="bogus"), pair([1.0]))


@pytest.mark.parametrize("fn", [lambda m, a, b: a // b, lambda m, a, b: a % b,
                                lambda m, a, b: m.div(a, b, rounding_mode="trunc")])
def test_division_of_two_bools_raises(fn):
    both_raise(fn, pair([True], "bool"), pair([True], "bool"))


def test_bool_tensor_divided_by_int_number():
    check(lambda m, a: a // 2, pair([True, False], "bool"))
    check(lambda m, a: a % 2, pair([True, False], "bool"))


# ---------------------------------------------------------------- bitwise operators
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_bitwise_operators(dtype):
    a, b = pair([1, 6, 0, 3], dtype), pair([3, 5, 0, 1], dtype)
    for fn in (lambda m, x, y: x & y, lambda m, x, y: x | y, lambda m, x, y: x ^ y, lambda m, x, y: ~x,
               lambda m, x, y: x & 1, lambda m, x, y: 6 ^ x, lambda m, x, y: x | True):
        check(fn, a, b)


def test_bitwise_bool_with_int_is_bitwise():
    check(lambda m, x, y: x ^ y, pair([True, False], "bool"), pair([3, 3], "int64"))


@pytest.mark.parametrize("fn", [lambda m, x: x & x, lambda m, x: x | 1, lambda m, x: x ^ x, lambda m, x: ~x,
                                lambda m, x: x.long() & 1.5])
def test_bitwise_on_floats_raises(fn):
    both_raise(fn, pair([1.0, 0.0]))


# ---------------------------------------------------------------- pow
def test_bool_exponent_tensor_raises_in_backward():
    both_raise(lambda m, a, b: a ** b, pair([2.0, 3.0]), pair([True, False], "bool"), backward=True)


@pytest.mark.parametrize("exponent", [True, False])
def test_python_bool_exponent(exponent):
    check(lambda m, a: a ** exponent, pair([0.0, 2.0, -1.5]))
    check(lambda m, a: a ** exponent, pair([True, False], "bool"))


def test_integer_base_negative_integer_tensor_exponent():
    a, b = pair([0, 1, -1, 2, -1, -1, 3], "int64"), pair([-1, -2, -3, -1, 0, -2, 2], "int64")
    check(lambda m, x, y: x ** y, a, b)
    check(lambda m, x, y: m.pow(x, y), a, b)
    check(lambda m, x, y: 2 ** y, a, b)


@pytest.mark.parametrize("values", [[2, 3], []])
def test_integer_tensor_negative_number_exponent_raises(values):
    both_raise(lambda m, a: m.pow(a, -2), pair(np.array(values), "int64"))
    both_raise(lambda m, a: a ** -1, pair(np.array(values), "int64"))


@pytest.mark.parametrize("exponent", [0.5, -0.5, 1.5, 2.5])
def test_pow_at_negative_zero_and_minus_infinity(exponent):
    check(lambda m, a: m.pow(a, exponent), pair([-0.0, -INF, 0.0, 4.0]))


@pytest.mark.parametrize("exponent", [0, 0.0])
def test_pow_zero_exponent_gradient_at_zero(exponent):
    check(lambda m, a: m.pow(a, exponent), pair([0.0, -1.0, 2.0]))
    check(lambda m, a: a ** exponent, pair([0.0, -1.0, 2.0]))


def test_x_pow_x_at_zero():
    check(lambda m, a: a ** a, pair([0.0, 0.5, 2.0]))
    check(lambda m, a, b: m.pow(a, b), pair([0.0, 0.0, 2.0, -1.0]), pair([0.0, 2.0, 0.0, 0.0]))


def test_pow_exponent_gradient_at_nonpositive_or_nonfinite_base():
    base = pair([-1.0, 0.0, 0.0, INF, -INF, 2.0])
    exponent = pair([2.0, 1.0, -1.0, 0.5, 2.0, 0.5])
    check(lambda m, a, b: m.pow(a, b), base, exponent)
    for number in (0, -2.0, 0.5, 2):
        check(lambda m, b: number ** b, pair([-1.0, 0.0, 1.5]))


def test_pow_of_bools():
    both_raise(lambda m, a, b: a ** b, pair([True], "bool"), pair([True], "bool"))
    check(lambda m, a: m.pow(a, 2), pair([True, False], "bool"))
    check(lambda m, a: m.pow(a, 2.5), pair([True, False], "bool"))
    check(lambda m, a: 2 ** a, pair([True, False], "bool"))


# ---------------------------------------------------------------- bool operands
@pytest.mark.parametrize("fn", [
    lambda m, a: a - a, lambda m, a: m.sub(a, a), lambda m, a: m.sub(a, a, alpha=2), lambda m, a: -a,
    lambda m, a: m.neg(a), lambda m, a: 1 - a, lambda m, a: a.float() - True, lambda m, a: a.long() - a,
    lambda m, a: m.abs(a), lambda m, a: m.floor(a), lambda m, a: m.ceil(a), lambda m, a: m.round(a),
    lambda m, a: m.relu(a)])
def test_bool_operand_raises(fn):
    both_raise(fn, pair([True, False], "bool"))


def test_square_and_sign_of_bool():
    check(lambda m, a: m.square(a), pair([True, False], "bool"))
    check(lambda m, a: m.sign(a), pair([True, False], "bool"))


# ---------------------------------------------------------------- add / sub alpha
@pytest.mark.parametrize("op", ["add", "sub"])
def test_alpha(op):
    x, y = pair([1.0, -2.0]), pair([0.5, 4.0])
    check(lambda m, a, b: getattr(m, op)(a, b, alpha=3), x, y)
    check(lambda m, a, b: getattr(m, op)(a, 2, alpha=3), x, y)
    check(lambda m, a, b: getattr(m, op)(a, 2.5, alpha=-0.5), x, y)
    check(lambda m, a, b: getattr(m, op)(a, b, alpha=0.5), pair([1.0], "float16"), pair([3], "int64"))
    check(lambda m, a, b: getattr(m, op)(a, 2.0, alpha=0.5), pair([1], "int64"), y)
    both_raise(lambda m, a, b: getattr(m, op)(a, b, alpha=0.5), pair([1], "int64"), pair([1], "int64"))


def test_allclose_of_different_dtypes_raises():
    both_raise(lambda m, a, b: m.allclose(a, b), pair([1.0], "float32"), pair([1.0], "float64"))


# ---------------------------------------------------------------- unary edge values
def test_abs_and_sign_at_nan():
    x = pair([NAN, -0.0, 0.0, -2.0, INF])
    check(lambda m, a: m.abs(a), x)
    check(lambda m, a: m.sign(a), x)


def test_rsqrt_at_negative_zero_and_minus_infinity():
    check(lambda m, a: m.rsqrt(a), pair([-0.0, -INF, 0.0, 4.0, INF]))


@pytest.mark.parametrize("decimals", [0, 1, 2, -1])
def test_round_decimals(decimals):
    values = [1.2345, -2.5, 15.0, 25.0, -0.055, 1e10]
    check(lambda m, a: m.round(a, decimals=decimals), pair(values))
    check(lambda m, a: a.round(decimals=decimals), pair(values, "float32"))


# ---------------------------------------------------------------- clamp, maximum, minimum
def test_clamp_tensor_bounds_at_nan_and_ties():
    x = pair([0.5, NAN, 1.0, 2.0, 5.0, 0.0])
    lo = pair([1.0, 0.0, 1.0, NAN, 1.0, 2.0])
    hi = pair([3.0, 1.0, 2.0, 3.0, 3.0, 1.0])
    check(lambda m, a, b, c: m.clamp(a, b, c), x, lo, hi)
    check(lambda m, a, b: m.clamp(a, min=b), x, lo)
    check(lambda m, a, c: m.clamp(a, max=c), x, hi)


def test_clamp_broadcast_tensor_bounds():
    x = pair(np.arange(6.0).reshape(2, 3) - 2)
    check(lambda m, a, b: m.clamp(a, min=b), x, pair([0.0, -1.0, 1.0]))
    check(lambda m, a, b: m.clamp(a, min=b), pair([1.0, 3.0], "float32"), pair([0.5, 0.5], "float64"))


def test_clamp_tensor_and_number_bounds():
    x = pair([0.5, 3.0])
    both_raise(lambda m, a, b: m.clamp(a, min=b, max=2), x, pair([1.0, 1.0]))
    both_raise(lambda m, a, b: m.clamp(a, min=1, max=b), x, pair(2.0))  # requires grad: not a number
    check(lambda m, a, b: m.clamp(a, min=b, max=2), x, pair(1.0, requires_grad=False))
    check(lambda m, a, b: m.clamp(a, min=b, max=0.5), pair([1, 3], "int32"), pair(2, "int32"))


@pytest.mark.parametrize("name", ["clamp", "clip"])
def test_clamp_integer_input_float_bounds(name):
    x = pair([-2, 0, 1, 3], "int32")
    check(lambda m, a: getattr(m, name)(a, 0.5, 1), x)
    check(lambda m, a: getattr(m, name)(a, -1, 1), x)


@pytest.mark.parametrize("name", ["maximum", "minimum", "max", "min"])
def test_maximum_minimum_gradient_at_nan_and_ties(name):
    a = pair([NAN, 1.0, NAN, 2.0, -1.0])
    b = pair([1.0, NAN, NAN, 2.0, 3.0])
    check(lambda m, x, y: getattr(m, name)(x, y), a, b)


# ---------------------------------------------------------------- comparison with None
@pytest.mark.parametrize("other", [None, [1.0, 2.0], (1.0,), "a", object()])
def test_eq_with_what_is_not_a_tensor_or_number(other):
    for module in (torch, dg):
        t = module.tensor([1.0, 2.0])
        assert (t == other) is False
        assert (t != other) is True


def test_eq_function_with_none_raises():
    both_raise(lambda m, a: m.eq(a, None), pair([1.0]))


# ---------------------------------------------------------------- numbers and the default dtype
def test_integer_number_wraps_in_a_narrow_integer_dtype():
    check(lambda m, a: a + 1000, pair([1, 100], "int8"))
    check(lambda m, a: a * 300, pair([1, 2], "uint8"))
    check(lambda m, a: a - 1, pair([0, 2], "uint8"))


@pytest.mark.parametrize("fn", [lambda m, a: a / 2, lambda m, a: m.exp(a), lambda m, a: m.sqrt(a),
                                lambda m, a: m.pow(a, 0.5), lambda m, a: m.rsqrt(a), lambda m, a: a * 0.5,
                                lambda m, a: m.clamp(a, 0.5, 3)])
def test_integer_input_takes_the_default_float_dtype(fn):
    torch_default, dg_default = torch.get_default_dtype(), dg.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        dg.set_default_dtype(dg.float64)
        check(fn, pair([1, 4], "int64"))
    finally:
        torch.set_default_dtype(torch_default)
        dg.set_default_dtype(dg_default)


def test_the_where_method_takes_the_condition_first_as_pytorchs():
    torch = pytest.importorskip("torch")
    x, cond, y = np.array([True, False, True, False]), np.array([True, True, False, False]), np.ones(4, bool)
    for other in (y, 0.5):  # bool self and condition: the two orders give different answers
        expected = torch.tensor(x).where(torch.tensor(cond), torch.tensor(other) if isinstance(other, np.ndarray)
                                         else other)
        got = dg.tensor(x).where(dg.tensor(cond), dg.tensor(other) if isinstance(other, np.ndarray) else other)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


BITWISE_CASES = [(name, dtype) for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
                                            "bitwise_right_shift")
                 for dtype in ("uint8", "int8", "int32", "int64", "bool")
                 if not (dtype == "bool" and "shift" in name)]  # PyTorch has no shifts of bools


@pytest.mark.parametrize("name, dtype", BITWISE_CASES)
def test_bitwise_functions_methods_and_operators_as_pytorchs(name, dtype):
    a, b = np.array([1, 2, 8, 0]).astype(dtype), np.array([1, 1, 2, 3]).astype(dtype)
    expected = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    for got in (getattr(dg, name)(dg.tensor(a), dg.tensor(b)), getattr(dg.tensor(a), name)(dg.tensor(b))):
        assert str(got.dtype) == str(expected.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_array_equal(dg.bitwise_not(dg.tensor(a)).numpy(), torch.bitwise_not(torch.tensor(a)).numpy())
    if "shift" in name:
        operator = (lambda x, y: x << y) if "left" in name else (lambda x, y: x >> y)
        np.testing.assert_array_equal(operator(dg.tensor(a), dg.tensor(b)).numpy(), expected.numpy())


@pytest.mark.parametrize("name, low, high", [("asin", -0.99, 0.99), ("acos", -0.99, 0.99), ("asinh", -5, 5),
                                             ("acosh", 1.01, 6), ("atanh", -0.99, 0.99), ("exp2", -4, 4),
                                             ("arcsin", -0.9, 0.9), ("arccosh", 1.5, 3)])
def test_inverse_hyperbolic_and_trig_functions_match_torch(name, low, high):
    x = np.random.default_rng(3).uniform(low, high, 7)
    d, t = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for ours, theirs in ((getattr(dg, name)(d), getattr(torch, name)(t)), (getattr(d, name)(), getattr(t, name)())):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    getattr(dg, name)(d).sum().backward()
    getattr(torch, name)(t).sum().backward()
    np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-10)
    for dtype in ("int64", "bool"):  # integers and bools become the default floating dtype
        ints = np.array([1, 0, 1]).astype(dtype)
        assert str(getattr(dg, name)(dg.tensor(ints)).dtype) == str(getattr(torch, name)(torch.tensor(ints)).dtype
                                                                     ).replace("torch.", "")


@pytest.mark.parametrize("name", ["positive", "sgn", "msort"])
def test_positive_sgn_msort_match_torch(name):
    x = np.random.default_rng(4).standard_normal((4, 3))
    d, t = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = getattr(dg, name)(d), getattr(torch, name)(t)
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    np.testing.assert_array_equal(getattr(d, name)().detach().numpy(), theirs.detach().numpy())
    if name != "sgn":  # sgn's gradient is 0, as sign's
        ours.pow(2).sum().backward()
        theirs.pow(2).sum().backward()
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-12)
