"""Reductions and norms against PyTorch at their edges: ties, NaN, zeros, empty and 0-d
tensors, several or no dims, too few elements for the correction. Values and float64
gradients (of a random-weighted sum of the output) must match; where PyTorch raises,
distgrad must raise too."""
import math

import numpy as np
import pytest

import distgrad as dg

torch = pytest.importorskip("torch")

NAN, INF = math.nan, math.inf
TIES = [[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]]
WITH_NAN = [[1.0, NAN, 2.0], [NAN, NAN, 0.5]]
ZEROS = [[0.0, 3.0, -3.0], [0.0, 0.0, 0.0]]
EMPTY = np.zeros((2, 0))


def _run(m, fn, values, dtype):
    """fn's first output and the gradient of its weighted sum, as NumPy arrays."""
    x = m.tensor(np.asarray(values, dtype=dtype))
    differentiable = x.dtype in (m.float32, m.float64)
    if differentiable:
        x.requires_grad_(True)
    out = fn(m, x)
    y = out[0] if isinstance(out, tuple) else out
    grad = None
    if differentiable and y.requires_grad:
        w = np.random.default_rng(0).standard_normal(tuple(y.shape))
        (y * m.tensor(w, dtype=y.dtype)).sum().backward()
        grad = np.zeros(np.shape(values)) if x.grad is None else np.array(x.grad.numpy())
    extra = [np.array(o.numpy()) for o in out[1:]] if isinstance(out, tuple) else []
    return [np.array(y.detach().numpy())] + extra, grad


def check(fn, values, dtype="float64"):
    (expected, expected_grad), (got, got_grad) = (_run(m, fn, values, dtype) for m in (torch, dg))
    for e, g in zip(expected, got):
        assert g.shape == e.shape and g.dtype == e.dtype, f"{g.shape} {g.dtype}, PyTorch {e.shape} {e.dtype}"
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg="values")
    assert (got_grad is None) == (expected_grad is None)
    if expected_grad is not None:
        np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-12, atol=1e-12, err_msg="gradient")


def check_raises(fn, values, dtype="float64"):
    for m in (torch, dg):
        with pytest.raises((RuntimeError, IndexError, TypeError, ValueError)):
            fn(m, m.tensor(np.asarray(values, dtype=dtype)))


# ------------------------------------------------------------------ amax, amin, max, min
@pytest.mark.parametrize("op", ["amax", "amin"])
@pytest.mark.parametrize("dim, keepdim", [((0, 1), False), ((1, 0), True), ((-1, 0), False)])
def test_amax_amin_reduce_every_listed_dim(op, dim, keepdim):
    check(lambda m, x: getattr(m, op)(x, dim=dim, keepdim=keepdim), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    check(lambda m, x: getattr(x, op)(dim=(dim[0] % 2, 2), keepdim=keepdim), np.arange(24.0).reshape(2, 3, 4) % 5)


@pytest.mark.parametrize("op", ["amax", "amin"])
@pytest.mark.parametrize("dim", [None, 0, 1, (0,), (0, 1)])
def test_amax_amin_share_the_gradient_between_ties(op, dim):
    check(lambda m, x: getattr(x, op)() if dim is None else getattr(x, op)(dim=dim), TIES)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_with_a_dim_give_the_gradient_to_the_returned_index(op):
    check(lambda m, x: getattr(x, op)(dim=1), TIES)
    check(lambda m, x: getattr(x, op)(), TIES)  # a full reduction shares it


@pytest.mark.parametrize("dim", [(0, 1), (0,), [1]])
def test_max_takes_one_int_dim(dim):
    check_raises(lambda m, x: m.max(x, dim=dim), TIES)
    check_raises(lambda m, x: x.argmin(dim=dim), TIES)


@pytest.mark.parametrize("op", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_empty_input_reduces_over_a_non_empty_dim(op):
    check(lambda m, x: getattr(x, op)(dim=0), EMPTY)
    check(lambda m, x: getattr(x, op)(dim=0, keepdim=True), EMPTY)
    check_raises(lambda m, x: getattr(x, op)(dim=1), EMPTY)
    check_raises(lambda m, x: getattr(x, op)(), EMPTY)


@pytest.mark.parametrize("fn", [
    lambda m, x: x.max(), lambda m, x: x.min(), lambda m, x: x.max(dim=1), lambda m, x: x.min(dim=0),
    lambda m, x: x.amax(), lambda m, x: x.amin(dim=1), lambda m, x: x.amax(dim=(0, 1)),
])
def test_nan_input_gradients(fn):
    check(fn, WITH_NAN)


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_nan_0d_input_gradient(op, dim):
    check(lambda m, x: getattr(x, op)() if dim is None else getattr(x, op)(dim=dim), NAN)


# ------------------------------------------------------------------ norm
@pytest.mark.parametrize("p", [0, 1, 2, 3, 1.5, 0.5, INF, -INF, "fro"])
@pytest.mark.parametrize("values", [TIES, ZEROS, WITH_NAN, [[0.0, 0.0]], [[-2.0, 2.0]]])
def test_norm_orders(p, values):
    check(lambda m, x: x.norm(p=p), values)
    check(lambda m, x: m.norm(x, p=p, dim=1, keepdim=True), values)
    check(lambda m, x: x.norm(p=p, dim=(0, 1)), values)


@pytest.mark.parametrize("p", [1, 2, 0, "fro", 3])
def test_norm_of_an_empty_dim_is_0(p):
    check(lambda m, x: x.norm(p=p, dim=0), EMPTY.T)


@pytest.mark.parametrize("p", [INF, -INF, -1])
def test_norm_without_identity_over_an_empty_dim_raises(p):
    check_raises(lambda m, x: x.norm(p=p, dim=0), EMPTY.T)
    check(lambda m, x: x.norm(p=p, dim=1), EMPTY.T)  # the reduced dim is not empty: no error


def test_norm_of_integers_raises():
    check_raises(lambda m, x: x.norm(), [1, 2], "int64")
    check_raises(lambda m, x: x.norm(p=0), 0, "int64")


# ------------------------------------------------------------------ prod
@pytest.mark.parametrize("values", [
    [[2.0, 3.0, -1.5], [0.5, 4.0, 1.0]],
    [[2.0, 0.0, -1.5], [0.5, 4.0, 1.0]],
    [[2.0, 0.0, -1.5], [0.0, 4.0, 1.0]],
    [[0.0, 0.0, -1.5], [0.5, 4.0, 0.0]],
    [[INF, 0.0, -0.0, 1.0]],
    [[INF, 0.0, 2.0, 1.0]],
])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_prod_gradient_is_exact_with_zeros(values, dim):
    check(lambda m, x: x.prod() if dim is None else x.prod(dim=dim), values)
    check(lambda m, x: x.prod() if dim is None else m.prod(x, dim, keepdim=True), values)


def test_prod_of_a_0d_tensor_and_of_integers():
    check(lambda m, x: x.prod(dim=0), INF)
    check(lambda m, x: x.prod(), [[1, 2], [3, 4]], "int32")


# ------------------------------------------------------------------ var, std
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("kw", [{}, {"unbiased": False}, {"correction": 2}, {"correction": 0.5}])
def test_var_std_constant_along_the_reduced_dims(op, kw):
    check(lambda m, x: getattr(x, op)(dim=1, **kw), [[1.0, 1.0], [1.0, 2.0]])
    check(lambda m, x: getattr(x, op)(dim=1, **kw), [[1.0], [2.0]])


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("values", [2.0, NAN, [3.0], [[1.0, 3.0], [2.0, 2.0]]])
@pytest.mark.parametrize("kw", [{}, {"correction": 2}, {"correction": 0}, {"dim": 0, "correction": 2}])
def test_var_std_with_fewer_elements_than_the_correction(op, values, kw):
    check(lambda m, x: getattr(x, op)(**kw), values)


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_of_integers_raise(op):
    check_raises(lambda m, x: getattr(x, op)(), [1, 2], "int64")
    check_raises(lambda m, x: getattr(x, op)(correction=0), 2, "int64")


@pytest.mark.parametrize("op", ["var", "std", "mean"])
@pytest.mark.parametrize("dim", [None, 0, 2, (0, 2)])
def test_empty_input_backward(op, dim):
    check(lambda m, x: getattr(x, op)() if dim is None else getattr(x, op)(dim=dim), np.zeros((3, 1, 0)))


# ------------------------------------------------------------------ dims: [] and 0-d tensors
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "var", "std", "norm"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_an_empty_dim_list_reduces_over_every_dim(op, keepdim):
    values = [[1.0, 1.0, -2.0], [-2.0, 0.5, 3.0]]
    check(lambda m, x: getattr(x, op)(dim=[], keepdim=keepdim), values)
    check(lambda m, x: getattr(x, op)(dim=(), keepdim=keepdim), 2.5)
    if op in ("var", "std"):
        check(lambda m, x: getattr(x, op)(dim=[], correction=2), values)


@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "norm", "amax", "amin", "all", "any", "prod"])
@pytest.mark.parametrize("dim", [0, -1, (0,), ()])
def test_0d_input_accepts_dim_0_and_minus_1(op, dim):
    if op == "prod" and isinstance(dim, tuple):
        return  # prod takes an int dim only
    check(lambda m, x: getattr(x, op)(dim=dim), 2.5)
    check(lambda m, x: getattr(x, op)(dim=dim, keepdim=True), 2.5)
    check_raises(lambda m, x: getattr(x, op)(dim=1), 2.5)


def test_frobenius_norm_takes_at_most_two_dims():
    values = np.arange(8.0).reshape(2, 2, 2)
    check_raises(lambda m, x: x.norm(p="fro", dim=(0, 1, 2)), values)
    check(lambda m, x: x.norm(p=2, dim=(0, 1, 2)), values)
    check(lambda m, x: x.norm(p="fro"), values)
