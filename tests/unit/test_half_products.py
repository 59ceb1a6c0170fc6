"""float16 matrix products on NumPy run as float32 (BLAS) products rounded once to float16:
NumPy's own float16 matmul is a loop without BLAS. The values are those of the float32
product of the same float16 inputs, rounded, as PyTorch's CPU kernels give them."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as dF

torch = pytest.importorskip("torch")

rng = np.random.default_rng(5)


def half(*shape):
    return rng.standard_normal(shape).astype(np.float16)


def rounded_product(a, b):
    return (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float16)


def test_matmul_is_the_rounded_float32_product_with_float16_gradients():
    a, b, g = half(3, 5, 7), half(7, 4), half(3, 5, 4)
    ta, tb = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    out = ta @ tb
    out.backward(dg.tensor(g))
    assert out.dtype == dg.float16
    np.testing.assert_array_equal(out.detach().numpy(), rounded_product(a, b))
    np.testing.assert_array_equal(ta.grad.numpy(), rounded_product(g, b.T))
    assert tb.grad.dtype == dg.float16


def test_linear_rounds_once_with_the_bias_added_in_float32():
    x, w, b = half(2, 6, 8), half(5, 8), half(5)
    out = dF.linear(dg.tensor(x), dg.tensor(w), dg.tensor(b)).numpy()
    expected = (x.astype(np.float32) @ w.astype(np.float32).T + b.astype(np.float32)).astype(np.float16)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", ["conv2d", "sdpa"])
def test_half_conv_and_attention_match_torch(name):
    if name == "conv2d":
        arrays = [half(2, 3, 6, 6), half(4, 3, 3, 3)]
        run = lambda F, a: F.conv2d(a[0], a[1], padding=1)  # noqa: E731
    else:
        arrays = [half(2, 2, 5, 8)] * 3
        run = lambda F, a: F.scaled_dot_product_attention(*a, is_causal=True)  # noqa: E731
    ours = run(dF, [dg.tensor(a) for a in arrays]).numpy()
    theirs = run(torch.nn.functional, [torch.from_numpy(a) for a in arrays]).numpy()
    assert ours.dtype == np.float16
    np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32), rtol=2e-3, atol=2e-3)
