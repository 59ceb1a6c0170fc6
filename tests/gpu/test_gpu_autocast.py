"""Mixed precision on the GPU: under autocast("cuda") the matmul-class ops run in float16 and
the precision-hungry ones (losses, softmax, layer_norm) in float32, within float16's rounding
of the float32 results, with gradients in the parameters' dtype; GradScaler on GPU tensors
trains the seed MLP like float32 and skips the step (and backs off) on an overflow."""
import copy

import numpy as np

import distgrad as dg
import distgrad.nn as nn
from gpu_support import GPU_ONLY, host
from test_seed_program import learnable_images, seed_net

pytestmark = GPU_ONLY

F16_RTOL = 2e-2  # float16 has 11 significant bits; sums over 64 products lose a few more


def normal(*shape, seed=0):
    return dg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), device="cuda")


def test_autocast_dtypes_and_values_on_gpu():
    dg.manual_seed(0)
    linear, norm = nn.Linear(64, 32).cuda(), nn.LayerNorm(32).cuda()
    x = normal(16, 64)
    with dg.autocast("cuda", dtype=dg.float16):
        h = linear(x)
        n = norm(h)
        p = dg.softmax(h, dim=-1)
        loss = nn.functional.cross_entropy(h, dg.tensor(np.arange(16) % 32, device="cuda"))
    assert h.is_cuda and h.dtype == dg.float16
    assert n.dtype == dg.float32 and p.dtype == dg.float32 and loss.dtype == dg.float32  # CUDA's float32 list
    reference = linear(x)
    np.testing.assert_allclose(host(h).astype(np.float32), host(reference), rtol=F16_RTOL,
                               atol=F16_RTOL * np.abs(host(reference)).max())
    loss.backward()
    assert linear.weight.grad.dtype == dg.float32 and linear.weight.grad.is_cuda


def batches(steps=12, batch=64):
    images, labels = learnable_images(steps * batch, seed=3, signal=0.3)
    return [(dg.tensor(images[i:i + batch], device="cuda"), dg.tensor(labels[i:i + batch], device="cuda"))
            for i in range(0, len(images), batch)]


def train(net, data, scaler=None):
    opt = dg.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for x, y in data:
        opt.zero_grad()
        with dg.autocast("cuda", dtype=dg.float16, enabled=scaler is not None):
            loss = nn.CrossEntropyLoss()(net(x), y)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        losses.append(loss.item())
    return np.array(losses)


def test_grad_scaler_on_gpu_trains_like_float32():
    dg.manual_seed(0)
    plain = seed_net(nn, dg.flatten, dg.relu).cuda()
    mixed = copy.deepcopy(plain)
    data = batches()
    reference = train(plain, data)
    got = train(mixed, data, dg.amp.GradScaler("cuda"))
    assert reference[-3:].mean() < 0.8 * reference[:3].mean()
    np.testing.assert_allclose(got, reference, rtol=3e-2, atol=3e-3)


def test_grad_scaler_on_gpu_skips_an_overflowing_step_and_backs_off():
    dg.manual_seed(0)
    net = seed_net(nn, dg.flatten, dg.relu).cuda()
    before = [host(p).copy() for p in net.parameters()]
    scaler = dg.amp.GradScaler("cuda", init_scale=2.0 ** 40)  # float16 gradients overflow at this scale
    train(net, batches(1), scaler)
    assert scaler.get_scale() == 2.0 ** 39
    for b, p in zip(before, net.parameters()):
        np.testing.assert_array_equal(host(p), b)
