"""Training on the GPU: the seed MLP follows its CPU losses step for step (float32), through
the fused cross-entropy and optimizer kernels; DistributedDataParallel and the collectives
work on GPU tensors in a world of one, and the gradient reducer fills GPU buckets."""
import copy

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.world.comm.local import LocalCommunicator
from distgrad.distributed.reducer import Reducer
from gpu_support import GPU_ONLY, host
from test_seed_program import learnable_images, seed_net

pytestmark = GPU_ONLY

OPTIMIZERS = [("SGD", dict(lr=0.01, momentum=0.9)), ("Adam", dict(lr=1e-3)), ("AdamW", dict(lr=1e-3))]


def batches(steps=30, batch=64):
    images, labels = learnable_images(steps * batch, seed=3, signal=0.3)
    return [(images[i:i + batch], labels[i:i + batch]) for i in range(0, len(images), batch)]


def train(net, opt, data, device):
    criterion = nn.CrossEntropyLoss()
    losses = []
    for x, y in data:
        opt.zero_grad()
        loss = criterion(net(dg.tensor(x, device=device)), dg.tensor(y, device=device))
        loss.backward()
        opt.step()
        assert loss.is_cuda == (device == "cuda")
        losses.append(loss.item())
    return np.array(losses)


def cpu_and_gpu_nets():
    dg.manual_seed(0)
    cpu = seed_net(nn, dg.flatten, dg.relu)
    return cpu, copy.deepcopy(cpu).cuda()


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_seed_mlp_on_gpu_follows_its_cpu_losses(name, kwargs):
    cpu, gpu = cpu_and_gpu_nets()
    data = batches()
    cpu_losses = train(cpu, getattr(optim, name)(cpu.parameters(), **kwargs), data, "cpu")
    gpu_losses = train(gpu, getattr(optim, name)(gpu.parameters(), **kwargs), data, "cuda")
    assert cpu_losses[-5:].mean() < 0.8 * cpu_losses[:5].mean()  # it learns: not a flat line
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    for (key, p_cpu), p_gpu in zip(cpu.named_parameters(), gpu.parameters()):
        np.testing.assert_allclose(host(p_gpu), p_cpu.detach().numpy(), rtol=1e-3, atol=1e-5, err_msg=key)


def test_fused_kernels_are_used_on_the_gpu():
    _, gpu = cpu_and_gpu_nets()
    x, y = batches(1)[0]
    loss = nn.CrossEntropyLoss()(gpu(dg.tensor(x, device="cuda")), dg.tensor(y, device="cuda"))
    assert loss.grad_fn.name == "FusedCrossEntropy"
    weighted = nn.CrossEntropyLoss(weight=dg.ones(10, device="cuda"))(gpu(dg.tensor(x, device="cuda")),
                                                                        dg.tensor(y, device="cuda"))
    assert weighted.grad_fn.name == "CrossEntropy"  # class weights: the generic op
    np.testing.assert_allclose(weighted.item(), loss.item(), rtol=1e-6)


def test_ddp_world_of_one_on_gpu_trains_exactly_like_the_plain_model():
    dist.init()
    assert dist.get_world_size() == 1
    _, plain = cpu_and_gpu_nets()
    wrapped = dist.DistributedDataParallel(copy.deepcopy(plain))
    data = batches(10)
    kwargs = dict(lr=0.01, momentum=0.9)
    plain_losses = train(plain, optim.SGD(plain.parameters(), **kwargs), data, "cuda")
    ddp_losses = train(wrapped, optim.SGD(wrapped.parameters(), **kwargs), data, "cuda")
    np.testing.assert_array_equal(ddp_losses, plain_losses)


def test_collectives_on_gpu_tensors_in_a_world_of_one():
    t = dg.arange(6, dtype=dg.float32, device="cuda")
    dist.all_reduce(t, op="sum")
    dist.broadcast(t, src=0)
    gathered = dist.all_gather(t)
    assert t.is_cuda and len(gathered) == 1 and gathered[0].is_cuda
    np.testing.assert_array_equal(host(gathered[0]), np.arange(6, dtype=np.float32))


def test_reducer_puts_gpu_gradients_in_gpu_buckets():
    """A reducer driven by a world-of-one communicator (DDP installs none there): gradients
    become views of flat GPU buckets and equal the gradients without it."""
    _, gpu = cpu_and_gpu_nets()
    x, y = batches(1)[0]
    reference = copy.deepcopy(gpu)
    named = list(gpu.named_parameters())
    reducer = Reducer([p for _, p in named], [n for n, _ in named], LocalCommunicator(), bucket_cap_bytes=1 << 16)
    reducer.install_hooks()
    for net in (gpu, reference):
        nn.CrossEntropyLoss()(net(dg.tensor(x, device="cuda")), dg.tensor(y, device="cuda")).backward()
    for (key, p), q in zip(named, reference.parameters()):
        assert p.grad.is_cuda, key
        np.testing.assert_allclose(host(p.grad), host(q.grad), rtol=1e-6, atol=1e-8, err_msg=key)
