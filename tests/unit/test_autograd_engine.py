"""The backward engine: deep graphs, accumulation, retain_graph, no_grad, hooks, grad()."""
import numpy as np
import pytest

import distgrad as dg
from distgrad import autograd
from distgrad.autograd.engine import backward_within_pass


def test_backward_through_100000_ops_needs_no_recursion():
    x = dg.tensor([1.5], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = -y
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


def test_gradients_accumulate_across_backward_calls():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_shared_subexpression_sums_both_paths():
    x = dg.tensor(2.0, requires_grad=True)
    y = x * x
    z = y * x + y  # dz/dx = 3x^2 + 2x
    z.backward()
    assert x.grad.item() == 16.0


def test_second_backward_needs_retain_graph():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_backward_through_a_freed_part_of_the_graph():
    x = dg.tensor([1.0], requires_grad=True)
    h = x * 2
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        (h * 3).sum().backward()


def test_no_grad_records_nothing_and_restores_the_mode():
    x = dg.ones(2, requires_grad=True)
    with dg.no_grad():
        y = x * 2
        assert not dg.is_grad_enabled()
        with dg.enable_grad():
            z = x * 2
    assert dg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @dg.no_grad()
    def double(t):
        return t * 2
    assert not double(x).requires_grad
    dg.set_grad_enabled(False)
    try:
        assert not (x + 1).requires_grad
    finally:
        dg.set_grad_enabled(True)


def test_inputs_without_requires_grad_get_no_gradient():
    x, w = dg.ones(3), dg.ones(3, requires_grad=True)
    (x * w).sum().backward()
    assert x.grad is None and w.grad.tolist() == [1.0, 1.0, 1.0]
    assert not (x * 2).requires_grad


def test_detach_cuts_the_graph():
    x = dg.tensor([3.0], requires_grad=True)
    y = x * x.detach()
    y.sum().backward()
    assert x.grad.tolist() == [3.0]


def test_hook_on_leaf_sees_and_replaces_the_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    handle = x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]] and x.grad.tolist() == [30.0, 30.0]
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_hook_on_non_leaf_replaces_the_gradient_flowing_on():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    seen = []

    def hook(g):
        seen.append(g.tolist())
        return g * 0 + 1
    h.register_hook(hook)
    (h * h).sum().backward()  # the hook sees 2h = [4, 8] and replaces it with ones
    assert seen == [[4.0, 8.0]]
    assert x.grad.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        dg.ones(2).register_hook(lambda g: g)


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    h.sum().backward()
    assert h.grad.tolist() == [1.0, 1.0]


def test_post_accumulate_hook_of_last_layer_fires_before_backward_finishes():
    dg.manual_seed(0)
    layers = [(dg.randn(8, 8, requires_grad=True), dg.randn(8, requires_grad=True)) for _ in range(20)]
    events = []
    first_weight = layers[0][0]

    def record(name):
        def hook(param):
            assert param.grad is not None  # accumulated before the hook runs
            events.append((name, first_weight.grad is None))
        return hook
    for i, (w, b) in enumerate(layers):
        w.register_post_accumulate_grad_hook(record(f"w{i}"))
    x = dg.randn(4, 8)
    for w, b in layers:
        x = dg.relu(dg.linear(x, w, b) * 0.3)
    x.sum().backward()
    names = [name for name, _ in events]
    assert names == [f"w{i}" for i in reversed(range(20))]
    assert events[0] == ("w19", True)  # the first layer's gradient did not exist yet
    assert events[-1] == ("w0", False)
    with pytest.raises(RuntimeError, match="leaf"):
        x.register_post_accumulate_grad_hook(lambda p: None)


def test_post_accumulate_hook_fires_once_per_backward_for_a_shared_leaf():
    w = dg.tensor([1.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda p: calls.append(p.grad.tolist()))
    (w * 2 + w * 3 + w).sum().backward()
    assert calls == [[6.0]]


def test_autograd_grad_for_leaf_and_non_leaf_inputs():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    y = (h * 3).sum()
    gx, gh = autograd.grad(y, [x, h], retain_graph=True)
    assert gx.tolist() == [6.0, 12.0] and gh.tolist() == [3.0, 3.0]
    assert x.grad is None  # grad() does not accumulate
    (only,) = autograd.grad([y], [x])
    assert only.tolist() == [6.0, 12.0]


def test_autograd_grad_single_input_and_allow_unused():
    x, unused = dg.tensor(2.0, requires_grad=True), dg.tensor(1.0, requires_grad=True)
    y = x * x
    assert autograd.grad(y, x, retain_graph=True)[0].item() == 4.0
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = autograd.grad(y, [x, unused], allow_unused=True)
    assert gx.item() == 4.0 and gu is None


def test_autograd_grad_with_grad_outputs():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = autograd.grad(x * 3, x, grad_outputs=dg.tensor([1.0, -1.0]))
    assert g.tolist() == [3.0, -3.0]


def test_autograd_backward_with_several_roots():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    autograd.backward([x * 2, (x * x).sum()], [dg.tensor([1.0, 1.0]), None])
    assert x.grad.tolist() == [4.0, 6.0]
    x.grad = None
    autograd.backward((x * 5).sum())
    assert x.grad.tolist() == [5.0, 5.0]


def test_backward_with_inputs_accumulates_only_there():
    a, b = dg.tensor(1.0, requires_grad=True), dg.tensor(2.0, requires_grad=True)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 2.0 and b.grad is None


def test_backward_of_a_leaf_does_not_alias_the_given_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    g = dg.tensor([1.0, 1.0])
    x.backward(g)
    x.backward(g)
    assert g.tolist() == [1.0, 1.0] and x.grad.tolist() == [2.0, 2.0]


def test_variable_is_a_tensor():
    v = autograd.Variable(dg.tensor([1.0, 2.0]), requires_grad=True)
    assert isinstance(v, dg.Tensor) and v.requires_grad and v.is_leaf
    (v * v).sum().backward()
    assert v.grad.tolist() == [2.0, 4.0]
    assert not autograd.Variable([1.0]).requires_grad


def test_custom_function():
    class Cube(autograd.Function):
        saves_inputs = True

        def forward(self, xp, x):
            self.x = x
            return x ** 3

        def backward(self, xp, g):
            return (3 * g * self.x ** 2,)
    x = dg.tensor([2.0], requires_grad=True)
    y = Cube.apply(x)
    y.sum().backward()
    assert y.tolist() == [8.0] and x.grad.tolist() == [12.0] and y.grad_fn.name == "Cube"


def test_backward_errors():
    with pytest.raises(RuntimeError, match="only for scalar outputs.*\\(2, 3\\)"):
        (dg.ones(2, 3, requires_grad=True) * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match=r"gradient of shape \(3,\) does not match.*\(2,\)"):
        (dg.ones(2, requires_grad=True) * 2).backward(dg.ones(3))
    with pytest.raises(RuntimeError, match="create_graph"):
        (dg.ones(1, requires_grad=True) * 2).sum().backward(create_graph=True)


def test_backward_at_the_edges_says_nothing(recwarn):
    # pow's exponent gradient at a zero base takes log(0) in a branch that where() discards
    base = dg.tensor([0.0, 2.0], requires_grad=True)
    exponent = dg.tensor([2.0, 3.0], requires_grad=True)
    (base ** exponent).sum().backward()
    np.testing.assert_allclose(exponent.grad.numpy(), [0.0, 8.0 * np.log(2.0)], rtol=1e-6)
    assert [str(w.message) for w in recwarn] == []


def test_backward_within_pass_returns_kept_leaves_gradients_and_accumulates_the_others():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = dg.tensor([4.0, 5.0, 6.0], requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = (w * x * x).sum()
    (gx,) = backward_within_pass([y], [np.ones(())], keep=[x])
    np.testing.assert_allclose(gx, 2 * w.detach().numpy() * x.detach().numpy())
    assert x.grad is None  # kept: handed back, not accumulated
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 4.0, 9.0])
    np.testing.assert_allclose(seen[0], [1.0, 4.0, 9.0])  # the other leaves' hooks ran
    unused = dg.tensor([1.0], requires_grad=True)
    z = (w * 2).sum()
    assert backward_within_pass([z], [np.ones(())], keep=[unused]) == [None]
