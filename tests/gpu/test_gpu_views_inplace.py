"""In-place ops through views on the GPU: the base's memory and history follow, as on the CPU
(0-d views from integer indices included: CuPy's indexing, not NumPy's scalars)."""
import numpy as np
import pytest

import distgrad as dg
from gpu_support import GPU_ONLY, host

pytestmark = GPU_ONLY


def changed(device):
    x = dg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device, requires_grad=True)
    w = dg.tensor([1.0, -1.0, 2.0], device=device, requires_grad=True)
    y = x * 1
    y[0:1].mul_(3)
    y.t()[1].add_(w[:2])
    y[1, 2].zero_()
    y[0] = w
    v = y[1]
    y.mul_(2)
    out = dg.zeros(2, 3, device=device)
    out[1] = w
    out[0, [0, 2]] = w[:2]
    ((y * y).sum() + (v * v).sum() + (out * out).sum()).backward()
    return [host(t) for t in (y, v, out, x.grad, w.grad)]


def test_in_place_through_views_on_gpu_follows_cpu():
    for gpu, cpu in zip(changed("cuda"), changed("cpu")):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-6)
