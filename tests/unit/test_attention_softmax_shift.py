"""scaled_dot_product_attention's softmax shift: a Cauchy-Schwarz bound on each row's scores
replaces the row maximum when it is small, the maximum is taken otherwise; both against PyTorch."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad.ops import attention

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("magnitude, bounded", [(0.5, True), (8.0, False)])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_sdpa_shift_by_bound_or_by_row_max(magnitude, bounded, dtype, tol):
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 3, 9, 8)).astype(dtype) * magnitude for _ in range(3))
    scaled_q = q * (1 / np.sqrt(8))
    assert (attention._shift_bound(np, scaled_q, k) is not None) is bounded
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    ours = [dg.tensor(a, requires_grad=True) for a in (q, k, v)]
    t_out = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True)
    d_out = F.scaled_dot_product_attention(*ours, is_causal=True)
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), rtol=tol, atol=tol)
    upstream = rng.standard_normal(t_out.shape).astype(dtype)
    t_out.backward(torch.tensor(upstream))
    d_out.backward(dg.tensor(upstream))
    for t, d in zip(theirs, ours):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=tol * 10, atol=tol * 10)


def test_shift_bound_refuses_nan_and_half():
    q = np.full((4, 2), np.nan, np.float32)
    assert attention._shift_bound(np, q, q) is None
    assert attention._shift_bound(np, np.ones((4, 2), np.float16), np.ones((4, 2), np.float16)) is None
