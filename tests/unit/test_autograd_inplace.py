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


# ------------------------------------------------------------------ through views (values from PyTorch 2.13)
def test_in_place_through_a_slice_of_a_non_leaf_writes_the_base_and_its_gradient():
    x = dg.ones(3, requires_grad=True)
    y = x * 1
    y[0:2].mul_(3)
    y.sum().backward()
    assert y.tolist() == [3.0, 3.0, 1.0]
    assert x.grad.tolist() == [3.0, 3.0, 1.0]
    assert y.grad_fn.name == "CopySlices"


def test_in_place_through_transpose_and_index_of_a_non_leaf():
    x = dg.ones(2, 2, requires_grad=True)
    y = x * 1
    y.t()[0].add_(5)
    (y * y).sum().backward()
    assert y.tolist() == [[6.0, 1.0], [6.0, 1.0]]
    assert x.grad.tolist() == [[12.0, 2.0], [12.0, 2.0]]


def test_a_view_taken_before_an_in_place_op_on_its_base_sees_new_values_and_history():
    x = dg.ones(3, requires_grad=True)
    y = x * 1
    v = y[0:2]
    old_fn = v.grad_fn
    y.mul_(3)
    assert v.tolist() == [3.0, 3.0]
    assert v.grad_fn is not old_fn  # re-derived from the base's new history
    v.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 0.0]


def test_a_graph_recorded_before_an_in_place_op_differentiates_the_old_values():
    x = dg.ones(3, requires_grad=True)
    y = x * 1
    before = y.sum()
    y[0].mul_(5)
    y.mul_(2)
    before.backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_in_place_into_a_tensor_that_does_not_require_grad_joins_the_graph():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    buf = dg.zeros(2)
    buf.add_(w)
    assert buf.requires_grad and buf.grad_fn is not None
    (buf * w).sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]
    w.grad = None
    out = dg.zeros(2)
    out[0] = w[1]
    (out * 3).sum().backward()
    assert w.grad.tolist() == [0.0, 3.0]


@pytest.mark.parametrize("op", ["zero_", "fill_", "copy_"])
def test_overwriting_keeps_no_trace_of_infinite_values(op):
    x = dg.tensor([float("inf"), -float("inf")], requires_grad=True)
    y = x * 1
    {"zero_": lambda: y.zero_(), "fill_": lambda: y.fill_(2.0), "copy_": lambda: y.copy_(dg.ones(2))}[op]()
    y.sum().backward()
    assert y.tolist() == ([0.0, 0.0] if op == "zero_" else [2.0, 2.0] if op == "fill_" else [1.0, 1.0])
    assert x.grad.tolist() == [0.0, 0.0]


def test_copy_keeps_the_destination_dtype_and_shape():
    w = dg.tensor([1.0, 2.0], dtype=dg.float64, requires_grad=True)
    y = dg.zeros(3, 2, requires_grad=True) * 1
    y.copy_(w)
    assert y.dtype == dg.float32 and y.shape == (3, 2)
    y.sum().backward()
    assert w.grad.dtype == dg.float64 and w.grad.tolist() == [3.0, 3.0]


def test_a_view_of_a_leaf_that_requires_grad_refuses_in_place_ops():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
        x[1:].mul_(2)
    with dg.no_grad():
        x[1:].mul_(2)
    assert x.tolist() == [1.0, 2.0, 2.0]


def test_changing_a_saved_non_leaf_through_a_view_is_caught():
    x = dg.ones(3, requires_grad=True)
    y = x * 2
    loss = (y * y).sum()
    y[0:1].add_(1)
    with pytest.raises(RuntimeError, match="Mul.*in-place"):
        loss.backward()


def test_a_view_made_a_leaf_stays_one_through_optimizer_steps():
    w = dg.tensor([[1.0, 2.0], [3.0, 4.0]]).t().requires_grad_()
    opt = dg.optim.SGD([w], lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        assert w.requires_grad and w.is_leaf
    assert w.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad"):
        w.mul_(2)
