"""nn.utils: gradient clipping and flat parameter vectors."""
import math

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn

RNG = np.random.default_rng(5)


def params_with_grads(shapes, scale=1.0):
    params = []
    for shape in shapes:
        p = nn.Parameter(dg.tensor(RNG.standard_normal(shape)))
        p.grad = dg.tensor(RNG.standard_normal(shape) * scale)
        params.append(p)
    return params


def flat_grads(params):
    return np.concatenate([p.grad.numpy().ravel() for p in params])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_is_global_and_scales_in_place(norm_type):
    params = params_with_grads([(3, 4), (4,), (2, 2, 2)], scale=5.0)
    before = flat_grads(params)
    expected = np.linalg.norm(before, ord=norm_type)
    grad_arrays = [p.grad.array for p in params]
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    assert isinstance(total, dg.Tensor) and total.shape == ()
    assert total.item() == pytest.approx(expected, rel=1e-12)
    after = flat_grads(params)
    assert np.linalg.norm(after, ord=norm_type) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(after, before / (expected + 1e-6), rtol=1e-12)
    assert all(p.grad.array is a for p, a in zip(params, grad_arrays))  # in place


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = params_with_grads([(5,)], scale=1e-3)
    before = flat_grads(params)
    nn.utils.clip_grad_norm_(params, max_norm=10.0)
    np.testing.assert_array_equal(flat_grads(params), before)


def test_clip_grad_norm_skips_missing_grads_and_accepts_a_module():
    lin = nn.Linear(3, 2)
    lin.weight.grad = dg.full((2, 3), 2.0)
    total = nn.utils.clip_grad_norm_(lin.parameters(), 1.0)
    assert total.item() == pytest.approx(math.sqrt(24), rel=1e-6)
    assert lin.bias.grad is None
    assert nn.utils.clip_grad_norm_([nn.Parameter(dg.ones(2))], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    params = params_with_grads([(3,)])
    params[0].grad.array[0] = np.inf
    with pytest.raises(RuntimeError, match="cannot be clipped"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    params = params_with_grads([(7, 3), (3,)], scale=3.0)
    t_params = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in params]
    for tp, p in zip(t_params, params):
        tp.grad = torch.tensor(p.grad.numpy().copy())
    t_total = torch.nn.utils.clip_grad_norm_(t_params, 0.5)
    total = nn.utils.clip_grad_norm_(params, 0.5)
    assert total.item() == pytest.approx(t_total.item(), rel=1e-12)
    for tp, p in zip(t_params, params):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_value():
    params = params_with_grads([(10,)], scale=3.0)
    before = flat_grads(params)
    nn.utils.clip_grad_value_(params, 0.5)
    np.testing.assert_array_equal(flat_grads(params), np.clip(before, -0.5, 0.5))


def test_parameters_to_vector_and_back():
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.detach().numpy()[:6], lin.weight.detach().numpy().ravel())
    vec.sum().backward()  # differentiable
    np.testing.assert_array_equal(lin.bias.grad.numpy(), np.ones(2, np.float32))
    nn.utils.vector_to_parameters(dg.arange(8, dtype=dg.float32), lin.parameters())
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [6.0, 7.0])
    with pytest.raises(ValueError, match="too short"):
        nn.utils.vector_to_parameters(dg.zeros(3), lin.parameters())
