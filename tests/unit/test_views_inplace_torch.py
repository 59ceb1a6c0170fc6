"""In-place ops through views, and into tensors that do not require grad, against PyTorch.

Each scenario is written once against the shared API and run on both libraries (float64);
the values it returns (tensors changed in place, gradients) must agree."""
import numpy as np
import pytest

import distgrad as dg

torch = pytest.importorskip("torch")

X = [[1.0, -2.0, 3.0, 0.5], [4.0, 5.0, -6.0, 2.0], [-0.5, 7.0, 8.0, -9.0]]
W = [1.5, -2.0, 0.25, 3.0]


def leaves(m, *values):
    return [m.tensor(v, dtype=m.float64, requires_grad=True) for v in values]


def run(scenario):
    """The scenario's results on both libraries, as NumPy arrays (None stays None)."""
    def arrays(results):
        return [None if r is None else np.asarray(r.detach().numpy() if hasattr(r, "detach") else r)
                for r in results]
    return arrays(scenario(torch)), arrays(scenario(dg))


def check(scenario):
    expected, got = run(scenario)
    assert len(expected) == len(got)
    for i, (e, g) in enumerate(zip(expected, got)):
        if e is None:
            assert g is None, f"result {i}: PyTorch None, distgrad {g}"
            continue
        assert g is not None, f"result {i}: PyTorch {e}, distgrad None"
        assert g.shape == e.shape and g.dtype == e.dtype, f"result {i}: {g.shape} {g.dtype} vs {e.shape} {e.dtype}"
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=f"result {i}")


def with_loss(y, *grads_of, loss=None):
    """Backward through (y * y).sum() (a gradient that depends on the values), return y and the grads."""
    ((y * y).sum() if loss is None else loss).backward()
    return [y] + [t.grad for t in grads_of]


# ------------------------------------------------------------------ views of non-leaf tensors
@pytest.mark.parametrize("change", [
    "slice_mul", "slice_zero", "slice_fill", "int_index_add", "t_index_add", "transpose_index_mul",
    "view_slice_mul", "reshape_index_sub", "flatten_div", "chained_views", "unsqueeze_squeeze",
    "negative_step_free_slice", "clamp_view", "relu_view", "pow_view",
    "masked_fill_view", "ellipsis_index",
])
def test_in_place_through_a_view_writes_the_base_and_its_gradient(change):
    def scenario(m):
        x, = leaves(m, X)
        y = x * 1
        if change == "slice_mul":
            y[0:2].mul_(3)
        elif change == "slice_zero":
            y[1:].zero_()
        elif change == "slice_fill":
            y[:, 1:3].fill_(2.5)
        elif change == "int_index_add":
            y[1].add_(5)
        elif change == "t_index_add":
            y[:2, :2].t()[0].add_(5)
        elif change == "transpose_index_mul":
            y.transpose(0, 1)[2].mul_(-4)
        elif change == "view_slice_mul":
            y.view(-1)[3:7].mul_(2)
        elif change == "reshape_index_sub":
            y.reshape(2, 6)[1].sub_(1.5)
        elif change == "flatten_div":
            y.flatten()[::3].div_(4)
        elif change == "chained_views":
            y[1:].t()[1:3].view(2, 2)[0].mul_(10)
        elif change == "unsqueeze_squeeze":
            y.unsqueeze(0)[0, 1:].squeeze(0).add_(2)
        elif change == "negative_step_free_slice":
            y[..., 1:3][1:].mul_(7)
        elif change == "clamp_view":
            y[1].clamp_(-1, 4.5)
        elif change == "relu_view":
            y[:, 2].relu_()
        elif change == "pow_view":
            y[2].pow_(2)
        elif change == "masked_fill_view":
            v = y[0:2]
            v.masked_fill_(v > 2, 0.0)
        elif change == "ellipsis_index":
            y[..., 0].mul_(3)
        return with_loss(y, x)
    check(scenario)


def test_in_place_with_an_operand_that_requires_grad_through_a_view():
    def scenario(m):
        x, w = leaves(m, X, W)
        y = x * 1
        y[1].mul_(w)  # the gradient of w reads the view's old values
        y[0].add_(w, alpha=2)
        y[2].copy_(w * w)
        return with_loss(y, x, w)
    check(scenario)


def test_several_in_place_ops_on_views_and_on_the_base():
    def scenario(m):
        x, w = leaves(m, X, W)
        y = x.exp() * 1
        a = y[0:2]
        a.mul_(2)
        y[1:].add_(y[0])  # an operand that is a view of the same base
        y.mul_(0.5)
        a[1].sub_(w)
        y.add_(y)
        return with_loss(y, x, w) + [a]
    check(scenario)


def test_a_view_taken_before_an_in_place_op_on_the_base_sees_its_values_and_history():
    def scenario(m):
        x, = leaves(m, X)
        y = x * 1
        v = y[0:2]
        t = y.t()
        y.mul_(3)
        y[2].zero_()
        assert v.grad_fn is not None and v.requires_grad
        loss = (v * v).sum() + t[3].sum()
        loss.backward()
        return [v, t, x.grad]
    check(scenario)


def test_a_graph_recorded_before_the_in_place_op_keeps_the_old_values_gradient():
    def scenario(m):
        x, = leaves(m, X)
        y = x * 1
        before = y[0:2].sum() * 2 + y.sum()  # recorded before the change: its gradient ignores it
        y[0].mul_(5)
        y.mul_(3)
        before.backward()
        return [y, x.grad]
    check(scenario)


def test_retain_graph_and_a_second_backward_through_rewritten_history():
    def scenario(m):
        x, = leaves(m, X)
        y = x * 1
        y[1].mul_(2)
        loss = (y * y).sum()
        loss.backward(retain_graph=True)
        first = x.grad.clone()
        loss.backward(retain_graph=True)
        y[0].mul_(4)  # a new in-place op on the retained graph's tensor, and a new loss
        (y * y).sum().backward()
        return [first, x.grad, y]
    check(scenario)


def test_in_place_after_a_freed_backward_raises_on_the_second_backward():
    for m in (torch, dg):
        x, = leaves(m, X)
        y = x * 2
        y.sum().backward()
        y[0].mul_(2)
        with pytest.raises(RuntimeError):
            y.sum().backward()


# ------------------------------------------------------------------ setitem
def test_setitem_with_a_value_that_requires_grad():
    def scenario(m):
        x, w = leaves(m, X, W)
        y = x * 1
        y[0] = w
        y[1, 1:3] = w[:2] * 2
        y[2, 0] = 7.0
        out = m.zeros(3, 4, dtype=m.float64)  # does not require grad: it joins the graph
        out[1] = w
        out[0, :2] = w[2:]
        return with_loss(y, x, w) + [out]
    check(scenario)


def test_setitem_with_a_value_that_requires_grad_into_a_fresh_buffer():
    def scenario(m):
        w, = leaves(m, W)
        out = m.zeros(2, 4, dtype=m.float64)
        out[0] = w
        out[1] = w * 3
        assert out.requires_grad and out.grad_fn is not None
        return with_loss(out, w)
    check(scenario)


def test_setitem_with_advanced_indices_and_masks():
    def scenario(m):
        x, w = leaves(m, X, W)
        y = x * 1
        y[[0, 2]] = w
        y[y > 4] = 0.0
        z = x * 1
        z[:, [1, 3]] = w[:2].unsqueeze(0) * 2
        loss = (y * y).sum() + (z * z * z).sum()
        loss.backward()
        return [y, z, x.grad, w.grad]
    check(scenario)


# ------------------------------------------------------------------ zero_ / fill_ / copy_
@pytest.mark.parametrize("op", ["zero_", "fill_", "copy_"])
def test_overwriting_non_finite_values(op):
    def scenario(m):
        x, src = leaves(m, [float("inf"), 1.0, -float("inf"), float("nan")], [0.5, 2.0, -1.0, 4.0])
        y = x * 1
        if op == "zero_":
            y.zero_()
        elif op == "fill_":
            y.fill_(2.5)
        else:
            y.copy_(src)
        return with_loss(y, x, src)
    check(scenario)


def test_copy_broadcasts_and_casts_into_the_destination():
    def scenario(m):
        x, = leaves(m, X)
        w = m.tensor(W, dtype=m.float32, requires_grad=True)
        y = x * 1
        y.copy_(w)  # (4,) float32 broadcast to (3, 4) float64
        assert y.dtype == m.float64 and tuple(y.shape) == (3, 4)
        y[1:].copy_(w[:1] * 2)
        plain = m.zeros(2, 4, dtype=m.float64)
        plain.copy_(m.tensor([1, 2, 3, 4], dtype=m.int64))
        return with_loss(y, x, w) + [plain]
    check(scenario)


# ------------------------------------------------------------------ tensors that do not require grad
@pytest.mark.parametrize("op", ["add_", "copy_", "setitem", "mul_view", "sub_alpha"])
def test_in_place_into_a_buffer_with_an_operand_that_requires_grad(op):
    def scenario(m):
        w, = leaves(m, [1.0, 2.0])
        buf = m.ones(2, dtype=m.float64)
        if op == "add_":
            buf.add_(w)
        elif op == "copy_":
            buf.copy_(w)
        elif op == "setitem":
            buf[0] = w[1]
        elif op == "mul_view":
            buf[1:].mul_(w[0])
        else:
            buf.sub_(w, alpha=3)
        assert buf.requires_grad and buf.grad_fn is not None
        (buf * w).sum().backward()
        return [buf, w.grad]
    check(scenario)


def test_a_view_of_a_buffer_follows_it_into_the_graph():
    def scenario(m):
        w, = leaves(m, W)
        buf = m.zeros(4, dtype=m.float64)
        v = buf[1:3]
        buf.add_(w)
        assert v.requires_grad
        (v * v).sum().backward()
        return [v, w.grad]
    check(scenario)


# ------------------------------------------------------------------ what still raises
def test_a_saved_tensor_changed_through_a_view_still_fails_the_version_check():
    for m in (torch, dg):
        x, = leaves(m, X)
        y = x * 2
        loss = (y * y).sum()  # saves y
        y[0:1].add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation|modified by an in-place operation"):
            loss.backward()


@pytest.mark.parametrize("view", ["slice", "index", "t", "view", "setitem"])
def test_a_view_of_a_leaf_that_requires_grad_refuses_in_place_ops(view):
    for m in (torch, dg):
        x, = leaves(m, X)
        with pytest.raises(RuntimeError, match="view of a leaf"):
            if view == "slice":
                x[0:2].mul_(2)
            elif view == "index":
                x[1].zero_()
            elif view == "t":
                x.t().add_(1)
            elif view == "view":
                x.view(-1).copy_(m.ones(12, dtype=m.float64))
            else:
                x[0] = 1.0
        with m.no_grad():  # how optimizers and init change parameters
            x[0:2].mul_(2)
            x[2] = 0.5
        assert x.detach().numpy()[0, 0] == 2.0 and x.detach().numpy()[2, 3] == 0.5


@pytest.mark.parametrize("split", ["split", "chunk", "unbind"])
def test_outputs_of_split_refuse_in_place_ops_in_grad_mode(split):
    for m in (torch, dg):
        x, = leaves(m, X)
        y = x * 1
        parts = {"split": lambda: y.split(2), "chunk": lambda: y.chunk(2, dim=1),
                 "unbind": lambda: y.unbind(0)}[split]()
        with pytest.raises(RuntimeError, match="multiple views"):
            parts[1].mul_(3)
        with m.no_grad():
            parts[0].mul_(3)
        assert y.detach().numpy()[0, 0] == 3.0


def test_in_place_through_an_expanded_view_is_refused():
    for m in (torch, dg):
        x, = leaves(m, [1.0, 2.0])
        y = (x * 1).expand(3, 2)
        with pytest.raises(RuntimeError):
            y.add_(1)


def test_an_integer_buffer_takes_the_values_of_an_operand_that_requires_grad_and_stays_out_of_the_graph():
    def scenario(m):
        w, = leaves(m, [1.5, 2.0, -3.0])
        b = m.zeros(3, dtype=m.int64)
        b.copy_(w)
        c = m.zeros(3, dtype=m.int64)
        c[1] = w[0]
        assert not b.requires_grad and b.grad_fn is None and not c.requires_grad
        return [b, c]
    check(scenario)


@pytest.mark.parametrize("case", ["leaf", "non_leaf", "buffer_with_grad_operand", "setitem"])
def test_a_view_made_under_no_grad_refuses_in_place_ops_that_autograd_would_record(case):
    for m in (torch, dg):
        x, w = leaves(m, [1.0, 2.0, 3.0], [4.0, 5.0])
        base = m.zeros(3, dtype=m.float64) if case == "buffer_with_grad_operand" else x if case == "leaf" else x * 1
        with m.no_grad():
            v = base[0:2]
        with pytest.raises(RuntimeError, match="(?i)(view|which) was (created|made) (in|under) no_grad"):
            if case == "buffer_with_grad_operand":
                v.add_(w)
            elif case == "setitem":
                v[0] = 7.0
            else:
                v.mul_(2)
        with m.no_grad():
            v.mul_(2)  # still fine where no gradient is recorded
        plain = m.zeros(3, dtype=m.float64)
        with m.no_grad():
            pv = plain[1:]
        pv.add_(1.0)  # nothing requires grad: nothing to record
        assert plain.tolist() == [0.0, 1.0, 1.0]


def test_contiguous_copies_a_transposed_tensor_and_view_refuses_strides_it_cannot_express():
    results = []
    for lib in (dg, torch):
        x = lib.arange(6.0, dtype=lib.float64).reshape(2, 3).requires_grad_()
        y = x.t()
        c = y.contiguous()
        with pytest.raises(RuntimeError, match="view"):
            y.view(6)
        split = y.view(3, 1, 2)  # splitting a dim needs no copy: a view
        split[0, 0, 0].item()
        (c * lib.arange(6.0, dtype=lib.float64).reshape(3, 2)).sum().backward()
        results.append((c.is_contiguous(), y.is_contiguous(), tuple(split.shape), x.grad.detach().numpy().copy()))
    assert results[0][:3] == results[1][:3] == (True, False, (3, 1, 2))
    np.testing.assert_array_equal(results[0][3], results[1][3])
