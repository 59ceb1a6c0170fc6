"""Reductions with dim and keepdim: gradients, NumPy and PyTorch values."""
import numpy as np
import pytest

import distgrad as dg
from test_ops_common import Case, op_tests


def random_dim(rng, ndim=3):
    return int(rng.integers(-ndim, ndim))


def shape3(rng):
    return [tuple(int(s) for s in rng.integers(2, 4, size=3))]


CASES = [
    Case("sum_all", lambda m, a: a.sum(), shape3, ref=np.sum),
    Case("sum_dim", lambda m, a: a.sum(1), shape3, ref=lambda a: a.sum(1)),
    Case("sum_dims_keepdim", lambda m, a: m.sum(a, dim=(0, 2), keepdim=True), shape3,
         ref=lambda a: a.sum((0, 2), keepdims=True)),
    Case("sum_negative_dim", lambda m, a: a.sum(-1, keepdim=True), [(2, 3)], ref=lambda a: a.sum(-1, keepdims=True)),
    Case("mean_all", lambda m, a: a.mean(), shape3, ref=np.mean),
    Case("mean_dim", lambda m, a: a.mean(dim=2), shape3, ref=lambda a: a.mean(2)),
    Case("mean_dims_keepdim", lambda m, a: a.mean((0, 1), keepdim=True), shape3,
         ref=lambda a: a.mean((0, 1), keepdims=True)),
    Case("max_all", lambda m, a: a.max(), shape3, ref=np.max),
    Case("max_dim", lambda m, a: a.max(dim=1), shape3, ref=lambda a: (a.max(1), a.argmax(1))),
    Case("max_dim_keepdim", lambda m, a: m.max(a, 0, keepdim=True), shape3,
         ref=lambda a: (a.max(0, keepdims=True), a.argmax(0)[None])),
    Case("min_all", lambda m, a: a.min(), shape3, ref=np.min),
    Case("min_dim", lambda m, a: a.min(-1), shape3, ref=lambda a: (a.min(-1), a.argmin(-1))),
    Case("amax", lambda m, a: m.amax(a, dim=1), [(3, 4)], ref=lambda a: a.max(1)),
    Case("var_all", lambda m, a: a.var(), shape3, ref=lambda a: a.var(ddof=1)),
    Case("var_dim", lambda m, a: a.var(1), shape3, ref=lambda a: a.var(1, ddof=1)),
    Case("var_biased_keepdim", lambda m, a: a.var(dim=(0, 2), unbiased=False, keepdim=True), shape3,
         ref=lambda a: a.var((0, 2), keepdims=True)),
    Case("var_correction", lambda m, a: m.var(a, 0, correction=0), [(4, 3)], ref=lambda a: a.var(0)),
    Case("std_all", lambda m, a: a.std(), shape3, ref=lambda a: a.std(ddof=1)),
    Case("std_dim_keepdim", lambda m, a: a.std(-1, keepdim=True), shape3,
         ref=lambda a: a.std(-1, ddof=1, keepdims=True)),
    Case("norm", lambda m, a: a.norm(), [(3, 2)], ref=np.linalg.norm),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


def test_full_max_shares_gradient_between_ties():
    a = dg.tensor([1.0, 3.0, 3.0, 0.0], requires_grad=True)
    a.max().backward()
    assert a.grad.tolist() == [0.0, 0.5, 0.5, 0.0]


def test_integer_sum_widens_to_int64_and_argmax_is_int64():
    a = dg.tensor([[1, 2], [3, 4]], dtype=dg.int32)
    assert a.sum().dtype == dg.int64 and a.sum().item() == 10
    assert dg.argmax(dg.tensor([[1.0, 5.0], [7.0, 0.0]]), dim=1).tolist() == [1, 0]


def test_mean_of_integers_asks_for_a_float():
    with pytest.raises(RuntimeError, match="mean.*int64"):
        dg.tensor([1, 2]).mean()


def test_reduction_dim_out_of_range():
    with pytest.raises(IndexError, match="sum.*dimension 3"):
        dg.zeros(2, 2).sum(3)
