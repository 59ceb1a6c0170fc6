"""Optimizers on the GPU: every rule of the tests/unit table follows the CPU over 20 steps
(float32 both), and the fused SGD and Adam kernels reproduce the CPU's update exactly."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.optim as optim
from distgrad.cuda import kernels
from gpu_support import GPU_ONLY, host
from test_optim import B0, CASES, W0, X, Y

pytestmark = GPU_ONLY
try:  # Adadelta, Adamax, NAdam, RAdam: that table's module needs PyTorch for its own tests
    from test_optimizers_torch import CASES as LATER_CASES
except pytest.skip.Exception:
    LATER_CASES = []


def train(name, kwargs, device, steps=20):
    f32 = np.float32
    w = dg.tensor(W0.astype(f32), device=device, requires_grad=True)
    b = dg.tensor(B0.astype(f32), device=device, requires_grad=True)
    x, y = dg.tensor(X.astype(f32), device=device), dg.tensor(Y.astype(f32), device=device)
    opt = getattr(optim, name)([w, b], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        ((dg.tanh(x @ w + b) - y) ** 2).mean().backward()
        opt.step()
    return w, b, opt


@pytest.mark.parametrize("name,kwargs", CASES + LATER_CASES)
def test_rule_on_gpu_follows_cpu(name, kwargs):
    w_cpu, b_cpu, _ = train(name, kwargs, "cpu")
    w_gpu, b_gpu, opt = train(name, kwargs, "cuda")
    assert w_gpu.is_cuda and all(v.is_cuda for s in opt.state.values() for v in s.values() if isinstance(v, dg.Tensor))
    np.testing.assert_allclose(host(w_gpu), w_cpu.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(host(b_gpu), b_cpu.detach().numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_on_gpu_follows_cpu(line_search):
    """L-BFGS's closure, curvature history and line search on GPU tensors: the CPU's path."""
    found = {}
    for device in ("cpu", "cuda"):
        f32 = np.float32
        w = dg.tensor(W0.astype(f32), device=device, requires_grad=True)
        b = dg.tensor(B0.astype(f32), device=device, requires_grad=True)
        x, y = dg.tensor(X.astype(f32), device=device), dg.tensor(Y.astype(f32), device=device)
        opt = optim.LBFGS([w, b], lr=0.5, max_iter=5, history_size=4, line_search_fn=line_search)

        def closure():
            opt.zero_grad()
            loss = ((dg.tanh(x @ w + b) - y) ** 2).mean()
            loss.backward()
            return loss
        losses = [float(opt.step(closure)) for _ in range(3)]
        assert w.is_cuda == (device == "cuda")
        found[device] = losses, host(w), host(b)
    np.testing.assert_allclose(found["cuda"][0], found["cpu"][0], rtol=1e-4)
    assert found["cpu"][0][-1] < found["cpu"][0][0]
    for got, want in zip(found["cuda"][1:], found["cpu"][1:]):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


FUSED = [(n, k) for n, k in CASES if n in ("SGD", "Adam", "AdamW")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", FUSED)
def test_fused_update_equals_the_cpu_steps_bit_for_bit(name, kwargs, dtype, monkeypatch):
    """Same parameters, gradients and state on both devices: three updates (the first makes
    the momentum buffer on the generic path), and the results are identical to the last bit."""
    rng = np.random.default_rng(4)
    start = rng.standard_normal((3, 257)).astype(dtype)
    grads = [rng.standard_normal(start.shape).astype(dtype) for _ in range(3)]
    calls = []
    for fn in ("sgd_", "adam_"):
        real = getattr(kernels, fn)
        monkeypatch.setattr(kernels, fn, lambda *a, _real=real, _fn=fn: (calls.append(_fn), _real(*a))[1])
    results = {}
    for device in ("cpu", "cuda"):
        p = dg.tensor(start, device=device, requires_grad=True)
        opt = getattr(optim, name)([p], **kwargs)
        for g in grads:
            p.grad = dg.tensor(g, device=device)
            opt.step()
        results[device] = host(p)
    assert calls, f"{name} on the GPU did not use the fused kernel"
    np.testing.assert_array_equal(results["cuda"], results["cpu"])
