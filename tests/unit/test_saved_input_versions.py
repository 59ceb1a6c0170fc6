"""Only the inputs a wanted gradient reads are guarded against in-place changes: PyTorch saves
``other`` for ``x * other``'s gradient with respect to x, so changing x in place afterwards is
fine, while changing ``other`` is caught."""
import numpy as np
import pytest

import distgrad as dg


def leaf(values):
    return dg.tensor(values, dtype=dg.float64, requires_grad=True)


@pytest.mark.parametrize("op", ["mul", "div", "matmul"])
def test_changing_an_input_that_no_wanted_gradient_reads_is_allowed(op):
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (dg, torch):
        w = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        other = lib.tensor([3.0, 4.0], dtype=lib.float64)  # wants no gradient
        a = w * 1
        out = getattr(lib, op)(a, other)
        a.add_(10.0)  # read only by other's gradient, which nobody wants
        out.sum().backward()
        grads.append(np.asarray(w.grad.detach().numpy()))
    np.testing.assert_array_equal(grads[0], grads[1])


def test_changing_the_read_input_is_still_caught():
    w = leaf([1.0, 2.0])
    x = dg.tensor([3.0, 4.0], dtype=dg.float64)
    out = w * x
    x.add_(1.0)  # w's gradient reads x
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()


def test_linear_watches_the_weight_for_the_input_gradient_and_the_input_for_the_weight_gradient():
    x = leaf(np.ones((2, 3)))
    weight = dg.tensor(np.ones((4, 3)), dtype=dg.float64)  # no gradient wanted: x is not read
    hidden = x * 1
    out = dg.nn.functional.linear(hidden, weight)
    hidden.mul_(2.0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 4.0))
    weight.add_(1.0)
    out2 = dg.nn.functional.linear(x * 1, weight)
    with dg.no_grad():
        weight.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out2.sum().backward()
