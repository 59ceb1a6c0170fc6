"""Mixed precision on the GPU: autocast("cuda") runs the matmul class in float16 and PyTorch's
CUDA float32 list (softmax, layer_norm, losses) in float32; GradScaler("cuda") takes the same
decisions as on the CPU."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
import distgrad.optim as optim
from distgrad.amp import GradScaler
from gpu_support import GPU_ONLY, host

pytestmark = GPU_ONLY + [pytest.mark.filterwarnings("ignore:overflow encountered")]
rng = np.random.default_rng(0)
X, W = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((6, 8)).astype(np.float32)


def test_cuda_autocast_lists():
    x, w = dg.tensor(X, device="cuda"), dg.tensor(W, device="cuda")
    with dg.autocast("cuda"):  # float16 by default on CUDA
        out = F.linear(x, w)
        results = {"linear": out, "softmax": F.softmax(out, dim=-1), "layer_norm": F.layer_norm(out, (6,)),
                   "cross_entropy": F.cross_entropy(out, dg.tensor([0, 1, 2, 3], device="cuda")),
                   "cpu_linear": F.linear(dg.tensor(X), dg.tensor(W))}  # CPU tensors: not under CUDA autocast
    expected = {"linear": dg.float16, "softmax": dg.float32, "layer_norm": dg.float32,
                "cross_entropy": dg.float32, "cpu_linear": dg.float32}
    assert {k: v.dtype for k, v in results.items()} == expected
    assert results["linear"].is_cuda
    np.testing.assert_allclose(host(results["linear"]).astype(np.float32), X @ W.T, rtol=1e-2, atol=1e-2)


def run(device, steps=30):
    w = dg.tensor(W, device=device, requires_grad=True)
    opt = optim.SGD([w], lr=0.01)
    scaler = GradScaler(device, init_scale=2.0 ** 12, growth_interval=3)
    scales = []
    for step in range(steps):
        opt.zero_grad()
        factor = 1e38 if step % 7 == 3 else 1.0
        scaler.scale((F.linear(dg.tensor(X, device=device), w) ** 2).mean() * factor).backward()
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return scales, host(w)


def test_grad_scaler_on_the_gpu_decides_as_on_the_cpu():
    gpu_scales, gpu_w = run("cuda")
    cpu_scales, cpu_w = run("cpu")
    assert gpu_scales == cpu_scales
    changes = np.diff(cpu_scales)
    assert (changes < 0).any() and (changes > 0).any()  # it backed off and grew
    np.testing.assert_allclose(gpu_w, cpu_w, rtol=1e-4, atol=1e-6)
