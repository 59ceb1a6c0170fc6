"""Matrix products (1-D, 2-D, batched with broadcasting) and linear: gradients and values."""
import numpy as np
import pytest

import distgrad as dg
from test_ops_common import Case, op_tests

CASES = [
    Case("matmul_vec_vec", lambda m, a, b: m.matmul(a, b), [(4,), (4,)], ref=np.matmul),
    Case("matmul_mat_vec", lambda m, a, b: a @ b, [(3, 4), (4,)], ref=np.matmul),
    Case("matmul_vec_mat", lambda m, a, b: a @ b, [(4,), (4, 2)], ref=np.matmul),
    Case("matmul_mat_mat", lambda m, a, b: a @ b, [(3, 4), (4, 2)], ref=np.matmul),
    Case("matmul_batched", lambda m, a, b: a @ b, [(2, 3, 4), (2, 4, 2)], ref=np.matmul),
    Case("matmul_broadcast_batch", lambda m, a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)], ref=np.matmul),
    Case("matmul_batch_mat", lambda m, a, b: a @ b, [(2, 3, 4), (4, 2)], ref=np.matmul),
    Case("matmul_vec_batch", lambda m, a, b: a @ b, [(4,), (2, 4, 3)], ref=np.matmul),
    Case("matmul_batch_vec", lambda m, a, b: a @ b, [(2, 3, 4), (4,)], ref=np.matmul),
    Case("mm", lambda m, a, b: m.mm(a, b), [(2, 3), (3, 2)], ref=np.matmul),
    Case("bmm", lambda m, a, b: m.bmm(a, b), [(2, 2, 3), (2, 3, 2)], ref=np.matmul),
    Case("linear", lambda m, x, w, b: m.linear(x, w, b), [(3, 4), (2, 4), (2,)],
         ref=lambda x, w, b: x @ w.T + b),
    Case("linear_no_bias", lambda m, x, w: m.linear(x, w), [(3, 4), (2, 4)], ref=lambda x, w: x @ w.T),
    Case("linear_3d", lambda m, x, w, b: m.linear(x, w, b), [(2, 3, 4), (5, 4), (5,)],
         ref=lambda x, w, b: x @ w.T + b),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


@pytest.mark.parametrize("a, b", [((2, 3), (4, 2)), ((3,), (4,)), ((2, 3, 4), (2, 5, 2))])
def test_matmul_shape_mismatch_names_the_shapes(a, b):
    with pytest.raises(RuntimeError, match=r"matmul.*" + str(a).replace("(", r"\(").replace(")", r"\)")):
        dg.randn(*a) @ dg.randn(*b)


def test_linear_rejects_mismatched_features():
    with pytest.raises(RuntimeError, match=r"linear.*\(3, 5\).*\(2, 4\)"):
        dg.linear(dg.randn(3, 5), dg.randn(2, 4))
