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


CE_SHAPES = [(1, 1), (7, 3), (64, 10), (33, 1000), (5, 70)]


def cross_entropy_case(n, c, dtype):
    """Logits, targets (a fifth of them ignored) and the reference results in float64."""
    rng = np.random.default_rng(n * c)
    x = (4 * rng.standard_normal((n, c))).astype(dtype)
    t = rng.integers(0, c, n)
    t[rng.random(n) < 0.2] = -100
    return x, t, cross_entropy_reference(x.astype(np.float64), t, -100)


def ce_tolerance(dtype):
    return F32 if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n,c", CE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_forward_kernel_matches_reference(n, c, dtype):
    x, t, (lse, loss, counted, _) = cross_entropy_case(n, c, dtype)
    got_lse, stats = kernels.cross_entropy_forward(gpu(x), gpu(t), -100)
    tol = ce_tolerance(dtype)
    np.testing.assert_allclose(back(got_lse), lse, **tol)
    np.testing.assert_allclose(back(stats[0]), loss, rtol=tol["rtol"], atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(back(stats[1]), counted)


@pytest.mark.parametrize("n,c", CE_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_backward_kernel_matches_reference(n, c, dtype):
    # from the reference's log-sum-exp (rounded to dtype), so this kernel is checked on its own
    x, t, (lse, _, _, grad) = cross_entropy_case(n, c, dtype)
    x_gpu, t_gpu, lse_gpu = gpu(x), gpu(t), gpu(lse.astype(dtype))
    per_row = np.random.default_rng(n + c).standard_normal(n).astype(dtype)
    for scale, factor in ((np.array([0.5], dtype), 0.5), (per_row, per_row[:, None])):
        got = kernels.cross_entropy_backward(x_gpu, lse_gpu, t_gpu, gpu(scale), -100)
        # float32: exp(x - lse) inherits lse's rounding, about 1e-6 absolute where |lse| ~ 10
        # (first seen on an H200: 1.9e-7 off at a gradient of 1.8e-4)
        atol = 1e-5 if dtype == np.float32 else ce_tolerance(dtype)["atol"]
        np.testing.assert_allclose(back(got), grad * factor, rtol=ce_tolerance(dtype)["rtol"], atol=atol)


BAD_TARGETS = np.array([0, 3, -100, -2])  # unchecked on the GPU (no DISTGRAD_DEBUG): those rows are NaN


def test_cross_entropy_forward_kernel_makes_a_bad_target_nan_without_reading_past_the_row():
    lse, stats = kernels.cross_entropy_forward(gpu(np.zeros((4, 3), np.float32)), gpu(BAD_TARGETS), -100)
    loss = back(stats[0])
    assert loss[0] == pytest.approx(np.log(3)) and np.isnan(loss[1]) and loss[2] == 0 and np.isnan(loss[3])
    np.testing.assert_array_equal(back(stats[1]), [1, 1, 0, 1])


def test_cross_entropy_backward_kernel_makes_a_bad_target_nan_without_reading_past_the_row():
    lse = np.full(4, np.log(3), np.float32)
    grad = back(kernels.cross_entropy_backward(gpu(np.zeros((4, 3), np.float32)), gpu(lse), gpu(BAD_TARGETS),
                                               gpu(np.ones(1, np.float32)), -100))
    np.testing.assert_allclose(grad[0], [-2 / 3, 1 / 3, 1 / 3], rtol=1e-6)
    assert (grad[2] == 0).all() and np.isnan(grad[1]).all() and np.isnan(grad[3]).all()


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


# ----------------------------------------------------------------- LSTM cell
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_cell_reference(hidden, pre, c_prev):
    """One LSTM step from its gate pre-activations in distgrad's order o, i, f, g, the sigmoid
    gates' halved (as the layer's weights are): activations (rows, 4H), c, tanh(c), h."""
    z = hidden + pre
    H = c_prev.shape[1]
    o, i, f = (sigmoid(2 * z[:, k * H:(k + 1) * H]) for k in range(3))
    g = np.tanh(z[:, 3 * H:])
    c = f * c_prev + i * g
    return np.concatenate([o, i, f, g], axis=1), c, np.tanh(c), o * np.tanh(c)


def lstm_cell_backward_reference(dh, acts, tanh_c, c_prev, dc):
    """The gradients of the (whole) gate pre-activations and of c_prev, from those of h and c."""
    H = c_prev.shape[1]
    o, i, f, g = (acts[:, k * H:(k + 1) * H] for k in range(4))
    dc = dc + dh * o * (1 - tanh_c ** 2)
    grads = [dh * tanh_c * o * (1 - o), dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2)]
    return np.concatenate(grads, axis=1), dc * f


LSTM_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


@pytest.mark.parametrize("projected", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_cell_kernels_match_reference(dtype, projected):
    rng = np.random.default_rng(8)
    rows, H = 37, 20
    hidden, pre = (rng.standard_normal((rows, 4 * H)).astype(dtype) for _ in range(2))
    c_prev, dh, dy, dc = (rng.standard_normal((rows, H)).astype(dtype) for _ in range(4))
    acts, c, tanh_c, h = lstm_cell_reference(*(a.astype(np.float64) for a in (hidden, pre, c_prev)))
    gates_gpu = gpu(hidden)
    c_gpu, tanh_c_gpu, h_gpu = (cupy.empty((rows, H), dtype) for _ in range(3))
    kernels.lstm_cell_forward(gates_gpu, gpu(pre), gpu(c_prev), c_gpu, tanh_c_gpu, h_gpu)
    for name, got, want in (("acts", gates_gpu, acts), ("c", c_gpu, c), ("tanh_c", tanh_c_gpu, tanh_c),
                            ("h", h_gpu, h)):
        np.testing.assert_allclose(back(got), want, **LSTM_TOL[dtype], err_msg=name)
    # backward from the kernel's own saved values, as the layer does
    dh_total = dh.astype(np.float64) + (0 if projected else dy)
    want_gates, want_dc = lstm_cell_backward_reference(dh_total, back(gates_gpu), back(tanh_c_gpu),
                                                       c_prev.astype(np.float64), dc.astype(np.float64))
    grads_gpu, dc_gpu = cupy.zeros((rows, 4 * H), dtype), gpu(dc)
    kernels.lstm_cell_backward(gpu(dh), None if projected else gpu(dy), gates_gpu, tanh_c_gpu, gpu(c_prev),
                               grads_gpu, dc_gpu)
    np.testing.assert_allclose(back(grads_gpu), want_gates, **LSTM_TOL[dtype], err_msg="gate gradients")
    np.testing.assert_allclose(back(dc_gpu), want_dc, **LSTM_TOL[dtype], err_msg="dc_prev")


def lstm_with_spied_kernels(monkeypatch, factory, dtype):
    """The module on the CPU and a copy on the GPU, and the fused LSTM calls counted."""
    import copy
    calls = {"forward": 0, "backward": 0}
    for key, name in (("forward", "lstm_cell_forward"), ("backward", "lstm_cell_backward")):
        def spy(*args, _real=getattr(kernels, name), _key=key):
            calls[_key] += 1
            return _real(*args)
        monkeypatch.setattr(kernels, name, spy)
    dg.manual_seed(0)
    cpu_module = factory().to(dtype)
    return cpu_module, copy.deepcopy(cpu_module).to("cuda"), calls


@pytest.mark.parametrize("proj_size", [0, 3])
def test_fused_lstm_layer_matches_cpu_packed_and_bidirectional(monkeypatch, proj_size):
    # float64 on both sides: only tanh's rounding differs, so the layer agrees to ~1e-12
    from distgrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    T, B, E, H, lengths = 6, 4, 5, 7, [6, 3, 5, 1]
    cpu_lstm, gpu_lstm, calls = lstm_with_spied_kernels(
        monkeypatch, lambda: dg.nn.LSTM(E, H, num_layers=2, bidirectional=True, proj_size=proj_size), dg.float64)
    x = np.random.default_rng(9).standard_normal((T, B, E))
    results = []
    for module, device in ((cpu_lstm, "cpu"), (gpu_lstm, "cuda")):
        xt = dg.tensor(x, device=device, requires_grad=True)
        out, (h, c) = module(pack_padded_sequence(xt, lengths, enforce_sorted=False))
        padded, _ = pad_packed_sequence(out)
        (padded.sin().sum() + h.cos().sum() + (c * c).sum()).backward()
        results.append([padded, h, c, xt.grad] + [p.grad for p in module.parameters()])
    assert calls["forward"] == 2 * 2 * T and calls["backward"] == 2 * 2 * T  # layers x directions x steps
    for i, (c_value, g_value) in enumerate(zip(*results)):
        np.testing.assert_allclose(back(g_value.detach().array), c_value.detach().numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"result {i}")


# ----------------------------------------------------------------- GELU
def gelu_reference(x, approximate):
    """GELU and its derivative in float64, from math.erf or the tanh form."""
    if approximate == "tanh":
        k = np.sqrt(2 / np.pi)
        th = np.tanh(k * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1 + th), 0.5 * (1 + th) + 0.5 * x * (1 - th ** 2) * k * (1 + 3 * 0.044715 * x ** 2)
    import math
    cdf = 0.5 * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))
    return x * cdf, cdf + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)


# Where tanh(inner) is near -1 (x around -5), 1 - tanh^2 keeps tanh's absolute rounding (an ulp
# of 1), times 0.5 x sqrt(2 / pi) (1 + 0.134 x^2), about 14: the derivative's absolute accuracy.
TANH_FORM_ATOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 4e-15}


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_kernel_matches_reference(approximate, dtype):
    x = np.concatenate([np.random.default_rng(10).standard_normal(1000) * 3, [0, -0.0, 8, -8, 30, -30, 1e-20]])
    x = x.astype(dtype)
    want_out, want_d = gelu_reference(x.astype(np.float64), approximate)
    out, derivative = kernels.gelu(gpu(x), approximate)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(back(out), want_out, **tol, err_msg="output")
    if approximate == "tanh":  # the derivative's 1 + tanh and 1 - tanh^2 cancel (as PyTorch's do)
        tol["atol"] = TANH_FORM_ATOL[np.dtype(dtype)]
    np.testing.assert_allclose(back(derivative), want_d, **tol, err_msg="derivative")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [dg.float32, dg.float64, dg.float16])
def test_fused_gelu_matches_cpu(monkeypatch, approximate, dtype):
    calls = []
    real = kernels.gelu
    monkeypatch.setattr(kernels, "gelu", lambda *a: calls.append(a) or real(*a))
    x = np.random.default_rng(11).standard_normal((16, 33)) * 3
    seed = np.random.default_rng(12).standard_normal((16, 33))
    results = []
    for device in ("cpu", "cuda"):
        xt = dg.tensor(x, device=device, dtype=dtype, requires_grad=True)
        y = dg.nn.functional.gelu(xt, approximate=approximate)
        y.backward(dg.tensor(seed, device=device, dtype=dtype))
        assert y.dtype == dtype and xt.grad.dtype == dtype
        results.append((y, xt.grad))
    # float16 with "tanh" is computed in float16 on both devices, without the kernel
    assert len(calls) == (0 if dtype == dg.float16 and approximate == "tanh" else 1)
    # float32: the CPU's erf is a fitted polynomial (1.5e-7 off), the GPU's CUDA's erf
    tol = {dg.float64: dict(rtol=1e-12, atol=1e-14), dg.float32: dict(rtol=1e-5, atol=1e-6),
           dg.float16: dict(rtol=2e-3, atol=2e-3)}[dtype]
    for (c_value, g_value), what in zip(zip(*results), ("output", "gradient")):
        if what == "gradient" and approximate == "tanh" and dtype != dg.float16:  # seeds up to ~4
            tol["atol"] = 4 * TANH_FORM_ATOL[np.dtype(dtype)]
        np.testing.assert_allclose(back(g_value.detach().array), c_value.detach().numpy().astype(np.float64),
                                   **tol, err_msg=what)
