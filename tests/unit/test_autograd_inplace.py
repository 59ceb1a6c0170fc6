"""In-place changes: caught when backward needs the old values, refused on leaves that
require grad, and differentiable on non-leaf tensors."""
import pytest

import distgrad as dg


def test_add_on_a_tensor_saved_for_backward_names_the_op():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()  # Mul saves y
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="gradient of Mul has been modified by an in-place operation"):
        z.backward()


def test_mul_on_a_saved_output_names_the_op():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()  # Exp saves its output
    loss = e.sum()
    e.mul_(2.0)
    with pytest.raises(RuntimeError, match="Exp.*in-place"):
        loss.backward()


def test_changing_a_saved_constant_through_a_view_is_caught():
    a = dg.ones(4)
    w = dg.ones(4, requires_grad=True)
    loss = (w * a).sum()
    a[1:3].add_(5.0)  # the slice shares a's memory and version counter
    assert a.tolist() == [1.0, 6.0, 6.0, 1.0]
    with pytest.raises(RuntimeError, match="Mul"):
        loss.backward()


@pytest.mark.parametrize("op", ["add_", "mul_", "sub_", "zero_", "clamp_", "fill_"])
def test_leaf_requiring_grad_cannot_change_in_place(op):
    x = dg.ones(3, requires_grad=True)
    args = {"zero_": (), "clamp_": (0.0, 0.5), "fill_": (2.0,)}.get(op, (2.0,))
    with pytest.raises(RuntimeError, match=f"{op}: a leaf tensor that requires grad"):
        getattr(x, op)(*args)
    with dg.no_grad():  # how optimizers update parameters
        getattr(x, op)(*args)
    assert x._version[0] == 1


def test_in_place_on_non_leaf_keeps_gradients_flowing():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.add_(1.0)
    y.mul_(3.0)
    y += x
    y.sum().backward()
    assert y.tolist() == [10.0, 17.0]
    assert x.grad.tolist() == [7.0, 7.0]


def test_in_place_operators_on_plain_tensors_keep_the_object():
    a = dg.tensor([1.0, 2.0])
    same = a
    a += 1
    a *= 2
    a -= 1
    a /= 4
    assert a is same and a.tolist() == [0.75, 1.25]


def test_unchanged_saved_tensors_pass_the_check():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    unrelated = dg.ones(2)
    unrelated.add_(1.0)
    z.backward()
    assert x.grad.tolist() == [8.0, 16.0]


def test_masked_fill_in_place_passes_the_gradient_where_not_filled():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.masked_fill_(dg.tensor([True, False, False]), 0.0)
    (y * y).sum().backward()
    assert y.tolist() == [0.0, 4.0, 6.0]
    assert x.grad.tolist() == [0.0, 16.0, 24.0]
    plain = dg.ones(3)
    plain.masked_fill_(dg.tensor([False, True, False]), 5.0)
    assert plain.tolist() == [1.0, 5.0, 1.0]
