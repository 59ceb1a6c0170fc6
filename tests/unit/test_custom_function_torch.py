"""Custom autograd Functions written PyTorch's way (static forward/backward on Tensors, ctx)
run the same code under distgrad and PyTorch and give the same values and gradients."""
import numpy as np
import pytest

import distgrad as dg

torch = pytest.importorskip("torch")


def functions(lib):
    """The same custom Functions, written against ``lib`` (distgrad or torch)."""

    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            y, = ctx.saved_tensors
            return grad * y

    class MulAdd(lib.autograd.Function):
        """Two outputs and a non-tensor argument."""
        @staticmethod
        def forward(ctx, x, w, k):
            ctx.save_for_backward(x, w)
            ctx.k = k
            ctx.needs = ctx.needs_input_grad
            return x * w, x + k * w

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            x, w = ctx.saved_tensors
            gx = g_prod * w + g_sum if ctx.needs_input_grad[0] else None
            gw = g_prod * x + ctx.k * g_sum if ctx.needs_input_grad[1] else None
            return gx, gw, None

    class ClampWithMask(lib.autograd.Function):
        """The mask output is marked non-differentiable."""
        @staticmethod
        def forward(ctx, x):
            mask = (x > 0).to(x.dtype)
            ctx.mark_non_differentiable(mask)
            ctx.save_for_backward(mask)
            return x * mask, mask

        @staticmethod
        def backward(ctx, grad, grad_mask):
            mask, = ctx.saved_tensors
            return grad * mask

    class Square(lib.autograd.Function):
        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        @lib.autograd.function.once_differentiable
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 2 * grad * x

    class AddOneInPlace(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad

    class RowBias(lib.autograd.Function):
        """Returns a gradient of the broadcast shape for a (1, n) input: summed down to it."""
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    return dict(legendre=LegendrePolynomial3, exp=Exp, muladd=MulAdd, clamp=ClampWithMask,
                square=Square, add_one=AddOneInPlace, row_bias=RowBias)


DG, TORCH = functions(dg), functions(torch)
X = np.random.default_rng(0).standard_normal((3, 4))
W = np.random.default_rng(1).standard_normal((3, 4))


def pair(array, requires_grad=True):
    return (dg.tensor(array, dtype=dg.float64, requires_grad=requires_grad),
            torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad))


def close(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


def run_both(program, *arrays):
    """``program(fns, lib, *tensors)`` under both libraries: returns and gradients must agree."""
    dg_in, torch_in = zip(*[pair(a) for a in arrays])
    ours = program(DG, dg, *dg_in)
    theirs = program(TORCH, torch, *torch_in)
    close(ours, theirs)
    for a, b in zip(dg_in, torch_in):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            close(a.grad, b.grad)


@pytest.mark.parametrize("name", ["legendre", "exp", "square"])
def test_one_output_function(name):
    def program(fns, lib, x):
        y = fns[name].apply(x)
        (y * lib.arange(12, dtype=lib.float64).reshape(3, 4)).sum().backward()
        return y
    run_both(program, X)


def test_legendre_fit_step_as_in_the_tutorial():
    def program(fns, lib, a, b):
        x = lib.linspace(-1.0, 1.0, 20, dtype=lib.float64)
        y_pred = a * fns["legendre"].apply(b * x)
        loss = ((y_pred - x.sin()) ** 2).sum()
        loss.backward()
        return loss
    run_both(program, np.array(0.3), np.array(-0.7))


def test_two_outputs_and_a_non_tensor_argument():
    def program(fns, lib, x, w):
        p, s = fns["muladd"].apply(x, w, 3.0)
        ((p * 2).sum() + (s ** 2).sum()).backward()
        return p + s
    run_both(program, X, W)


def test_one_of_two_outputs_used_gets_a_zero_gradient_for_the_other():
    def program(fns, lib, x, w):
        p, s = fns["muladd"].apply(x, w, 3.0)
        s.sum().backward()
        return s
    run_both(program, X, W)


def test_two_0d_outputs():
    def program(fns, lib, x, w):
        p, s = fns["muladd"].apply(x, w, -2.0)
        (p * s).backward()
        return p
    run_both(program, np.array(1.5), np.array(0.25))


def test_needs_input_grad_and_none_gradients():
    (x, tx), (w, tw) = pair(X), pair(W, requires_grad=False)
    p, s = DG["muladd"].apply(x, w, 2.0)
    tp, ts = TORCH["muladd"].apply(tx, tw, 2.0)
    assert p.grad_fn.name == type(tp.grad_fn).__name__ == "MulAddBackward"
    (p + s).sum().backward()
    (tp + ts).sum().backward()
    close(x.grad, tx.grad)
    assert w.grad is None and tw.grad is None


def test_mark_non_differentiable():
    (x, tx), = [pair(X)]
    y, mask = DG["clamp"].apply(x)
    ty, tmask = TORCH["clamp"].apply(tx)
    assert not mask.requires_grad and not tmask.requires_grad and y.requires_grad and ty.requires_grad
    close(mask, tmask)
    (y * 3).sum().backward()
    (ty * 3).sum().backward()
    close(x.grad, tx.grad)


def test_mark_dirty_on_a_non_leaf():
    def program(fns, lib, x):
        h = x * 2
        y = fns["add_one"].apply(h)
        assert y is h
        (y * y).sum().backward()
        return y
    run_both(program, X)


def test_mark_dirty_on_a_leaf_that_requires_grad_raises():
    (x, tx), = [pair(X)]
    with pytest.raises(RuntimeError):
        TORCH["add_one"].apply(tx)
    with pytest.raises(RuntimeError, match="AddOneInPlace.*leaf"):
        DG["add_one"].apply(x)


def test_mark_dirty_on_a_view_raises_rather_than_losing_the_gradient():
    (x, _), = [pair(X)]
    with pytest.raises(NotImplementedError, match="AddOneInPlace: mark_dirty on a view"):
        DG["add_one"].apply((x * 1)[0])


def test_gradient_of_the_broadcast_shape_is_summed_down():
    def program(fns, lib, x, b):
        y = fns["row_bias"].apply(x, b)
        (y * y).sum().backward()
        return y
    run_both(program, X, W[:1])


def test_no_graph_without_grad():
    (x, tx), = [pair(X)]
    with dg.no_grad():
        y = DG["exp"].apply(x)
    with torch.no_grad():
        ty = TORCH["exp"].apply(tx)
    assert not y.requires_grad and not ty.requires_grad and y.grad_fn is None
    close(y, ty)


def test_modifying_a_saved_tensor_after_forward_raises():
    for lib, fns in ((dg, DG), (torch, TORCH)):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        h = x * 1
        y = fns["legendre"].apply(h)
        with lib.no_grad():
            h.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation|modified by an in-place"):
            y.sum().backward()


@pytest.mark.parametrize("returned,match", [
    (lambda g: (g, g), r"LegendreBadBackward.*incorrect number of gradients \(expected 1, got 2\)"),
    (lambda g: g.sum(), r"LegendreBadBackward.*invalid gradient at index 0.*\(\).*\(3, 4\)"),
    (lambda g: g[:1], r"LegendreBadBackward.*invalid gradient at index 0"),
    (lambda g: 3.0, r"LegendreBadBackward.*float at position 0"),
])
def test_wrong_gradients_raise_naming_the_function(returned, match):
    def make(lib):
        class LegendreBad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return returned(grad)
        return LegendreBad
    (x, tx), = [pair(X)]
    with pytest.raises(RuntimeError):
        make(torch).apply(tx).sum().backward()
    with pytest.raises(RuntimeError, match=match):
        make(dg).apply(x).sum().backward()


def test_retain_graph_hooks_and_autograd_grad_through_two_outputs():
    def program(fns, lib, x, w):
        p, s = fns["muladd"].apply(x, w, 0.5)
        p.register_hook(lambda g: g * 10)
        loss = p.sum() + (s * s).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        p, s = fns["muladd"].apply(x, w, 0.5)
        gx, gw = lib.autograd.grad((p * s).sum(), [x, w])
        return gx + gw
    run_both(program, X, W)
