"""Each fused kernel of distgrad.cuda.kernels against its CPU reference formula, written here
beside the test that runs it (NumPy in float64, on random inputs drawn fresh per seed)."""
import numpy as np
import pytest

import distgrad as dg
from distgrad.backend import cupy
from distgrad.cuda import kernels, packing
from gpu_support import GPU_ONLY

pytestmark = GPU_ONLY
F32 = dict(rtol=2e-6, atol=1e-7)


def gpu(array):
    return cupy.asarray(array)


def back(array):
    return cupy.asnumpy(array).astype(np.float64)


# ----------------------------------------------------------------- SGD
def sgd_reference(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """torch.optim.SGD's update once the momentum buffer exists."""
    d = (-g if maximize else g) + weight_decay * p
    if buf is None:
        return p - lr * d, None
    buf = momentum * buf + (1 - dampening) * d
    d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


SGD_GROUPS = [dict(lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False),
              dict(lr=0.1, momentum=0, dampening=0, weight_decay=0.1, nesterov=False, maximize=True),
              dict(lr=0.05, momentum=0.9, dampening=0, weight_decay=0, nesterov=False, maximize=False),
              dict(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=0.01, nesterov=False, maximize=False),
              dict(lr=0.05, momentum=0.9, dampening=0, weight_decay=0.01, nesterov=True, maximize=True)]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("group", SGD_GROUPS)
def test_sgd_kernel_matches_reference(group, seed):
    rng = np.random.default_rng(seed)
    p, g, buf = (rng.standard_normal(1000).astype(np.float32) for _ in range(3))
    if not group["momentum"]:
        buf = None
    want_p, want_buf = sgd_reference(*(x.astype(np.float64) if x is not None else None for x in (p, g, buf)),
                                     **group)
    p_gpu, buf_gpu = gpu(p), (None if buf is None else gpu(buf))
    kernels.sgd_(p_gpu, gpu(g), buf_gpu, group)
    np.testing.assert_allclose(back(p_gpu), want_p, **F32)
    if buf is not None:
        np.testing.assert_allclose(back(buf_gpu), want_buf, **F32)


# ----------------------------------------------------------------- Adam
def adam_reference(p, g, m, v, vmax, step, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
    """torch.optim.Adam / AdamW, one step (``step`` counted from 1)."""
    beta1, beta2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    vmax = np.maximum(vmax, v) if amsgrad else vmax
    denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - beta2 ** step) + eps
    return p - lr / (1 - beta1 ** step) * m / denom, m, v, vmax


ADAM_GROUPS = [dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
                    decoupled_weight_decay=False),
               dict(lr=0.01, betas=(0.3, 0.5), eps=1e-8, weight_decay=0.1, amsgrad=True, maximize=True,
                    decoupled_weight_decay=False),
               dict(lr=0.01, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.5, amsgrad=True, maximize=False,
                    decoupled_weight_decay=True)]


@pytest.mark.parametrize("group", ADAM_GROUPS)
def test_adam_kernel_matches_reference(group):
    rng = np.random.default_rng(3)
    p, g, m = (rng.standard_normal(1000).astype(np.float32) for _ in range(3))
    v, vmax = (rng.uniform(0.1, 1, 1000).astype(np.float32) for _ in range(2))
    step = 4  # the state has seen three steps
    want = adam_reference(*(x.astype(np.float64) for x in (p, g, m, v, vmax)), step + 1, **group)
    state = {"step": step, "exp_avg": dg.tensor(m, device="cuda"), "exp_avg_sq": dg.tensor(v, device="cuda"),
             "max_exp_avg_sq": dg.tensor(vmax, device="cuda")}
    p_gpu = gpu(p)
    kernels.adam_(p_gpu, gpu(g), state, group)
    assert state["step"] == step + 1
    got = (p_gpu, state["exp_avg"].array, state["exp_avg_sq"].array, state["max_exp_avg_sq"].array)
    for name, x, w in zip(("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), got, want):
        np.testing.assert_allclose(back(x), w, rtol=1e-5, atol=1e-7, err_msg=name)


# ----------------------------------------------------------------- softmax cross-entropy
def cross_entropy_reference(x, t, ignore_index):
    """Per-row log-sum-exp, losses (0 where ignored), counted rows, and d(sum of losses)/dx."""
    lse = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1)
    counted = t != ignore_index
    rows = np.arange(len(t))
    loss = np.where(counted, lse - x[rows, np.where(counted, t, 0)], 0)
    grad = np.exp(x - lse[:, None])
    grad[rows[counted], t[counted]] -= 1
    return lse, loss, counted.astype(np.float64), grad * counted[:, None]


@pytest.mark.parametrize("n,c", [(1, 1), (7, 3), (64, 10), (33, 1000), (5, 70)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_kernels_match_reference(n, c, dtype):
    rng = np.random.default_rng(n * c)
    x = (4 * rng.standard_normal((n, c))).astype(dtype)
    t = rng.integers(0, c, n)
    t[rng.random(n) < 0.2] = -100
    lse, loss, counted, grad = cross_entropy_reference(x.astype(np.float64), t, -100)
    x_gpu, t_gpu = gpu(x), gpu(t)
    got_lse, stats = kernels.cross_entropy_forward(x_gpu, t_gpu, -100)
    tol = F32 if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(back(got_lse), lse, **tol)
    np.testing.assert_allclose(back(stats[0]), loss, rtol=tol["rtol"], atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(back(stats[1]), counted)
    per_row = rng.standard_normal(n).astype(dtype)
    for scale, factor in ((np.array([0.5], dtype), 0.5), (per_row, per_row[:, None])):
        got = kernels.cross_entropy_backward(x_gpu, got_lse, t_gpu, gpu(scale), -100)
        # float32: exp(x - lse) inherits lse's rounding, about 1e-6 absolute where |lse| ~ 10
        # (first seen on an H200: 1.9e-7 off at a gradient of 1.8e-4); the loss's atol too.
        atol = 1e-5 if dtype == np.float32 else tol["atol"]
        np.testing.assert_allclose(back(got), grad * factor, rtol=tol["rtol"], atol=atol)


def test_cross_entropy_kernels_make_a_bad_target_nan_without_reading_past_the_row():
    # unchecked on the GPU (no DISTGRAD_DEBUG): the row's loss and gradient are NaN
    x = np.zeros((4, 3), np.float32)
    t = np.array([0, 3, -100, -2])
    lse, stats = kernels.cross_entropy_forward(gpu(x), gpu(t), -100)
    loss = back(stats[0])
    assert loss[0] == pytest.approx(np.log(3)) and np.isnan(loss[1]) and loss[2] == 0 and np.isnan(loss[3])
    np.testing.assert_array_equal(back(stats[1]), [1, 1, 0, 1])
    grad = back(kernels.cross_entropy_backward(gpu(x), lse, gpu(t), gpu(np.ones(1, np.float32)), -100))
    assert np.isfinite(grad[0]).all() and (grad[2] == 0).all()
    assert np.isnan(grad[1]).all() and np.isnan(grad[3]).all()


# ----------------------------------------------------------------- bias + ReLU
def test_bias_relu_kernels_match_reference():
    rng = np.random.default_rng(5)
    y, b, g = rng.standard_normal((64, 130)).astype(np.float32), rng.standard_normal(130).astype(np.float32), \
        rng.standard_normal((64, 130)).astype(np.float32)
    out = kernels.bias_relu(gpu(y), gpu(b))
    np.testing.assert_array_equal(cupy.asnumpy(out), np.maximum(y + b, 0))  # one rounding: exact
    np.testing.assert_array_equal(cupy.asnumpy(kernels.relu_backward(gpu(g), out)), g * (y + b > 0))


def test_bias_relu_kernels_pass_nan_through_as_the_cpu_path():
    y = np.array([[np.nan, -1.0, 2.0]], np.float32)
    b, g = np.zeros(3, np.float32), np.ones((1, 3), np.float32)
    out = kernels.bias_relu(gpu(y), gpu(b))
    np.testing.assert_array_equal(cupy.asnumpy(out), [[np.nan, 0.0, 2.0]])
    np.testing.assert_array_equal(cupy.asnumpy(kernels.relu_backward(gpu(g), out)), [[1.0, 0.0, 1.0]])


def test_linear_relu_on_gpu_matches_the_plain_ops_on_cpu():
    from distgrad.cuda.fused_activation import linear_relu
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((8, 5), (4, 5), (4,))]
    cpu = [dg.tensor(a, requires_grad=True) for a in arrays]
    on_gpu = [dg.tensor(a, device="cuda", requires_grad=True) for a in arrays]
    y_cpu, y_gpu = dg.relu(dg.nn.functional.linear(*cpu)), linear_relu(*on_gpu)
    assert y_gpu.grad_fn.name == "BiasRelu"
    np.testing.assert_allclose(y_gpu.detach().cpu().numpy(), y_cpu.detach().numpy(), rtol=1e-5, atol=1e-6)
    y_cpu.sum().backward()
    y_gpu.sum().backward()
    for c, g in zip(cpu, on_gpu):
        np.testing.assert_allclose(g.grad.cpu().numpy(), c.grad.numpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- bucket packing
def packing_reference(arrays):
    """pack: the arrays' elements one after another; unpack: the same slices, reshaped."""
    return np.concatenate([a.reshape(-1) for a in arrays])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.uint8])
def test_pack_and_unpack_in_one_launch(dtype):
    rng = np.random.default_rng(7)
    shapes = [(3, 4), (1,), (0,), (1000, 3), (257,), (2, 2, 2)]
    arrays = [(100 * rng.standard_normal(s)).astype(dtype) for s in shapes]
    on_gpu = [gpu(a) for a in arrays]
    flat = cupy.full(sum(a.size for a in arrays) + 5, 7, dtype)
    assert kernels.can_copy_segments(on_gpu, flat)
    packing.pack(on_gpu, flat)
    want = packing_reference(arrays)
    np.testing.assert_array_equal(cupy.asnumpy(flat[:want.size]), want)
    np.testing.assert_array_equal(cupy.asnumpy(flat[want.size:]), np.full(5, 7, dtype))  # untouched
    targets = [cupy.zeros_like(a) for a in on_gpu]
    packing.unpack(flat, targets)
    for a, t in zip(arrays, targets):
        np.testing.assert_array_equal(cupy.asnumpy(t), a)


def test_pack_falls_back_for_views():
    base = cupy.arange(24, dtype=cupy.float32).reshape(4, 6)
    arrays = [base.T, base[:, 1]]  # non-contiguous
    flat = cupy.empty(24 + 4, cupy.float32)
    assert not kernels.can_copy_segments(arrays, flat)
    packing.pack(arrays, flat)
    host = cupy.asnumpy(base)
    np.testing.assert_array_equal(cupy.asnumpy(flat), np.concatenate([host.T.ravel(), host[:, 1]]))
