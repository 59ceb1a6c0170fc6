"""ZeRO-2: DistributedDataParallel(gradient_as_shards=True) with ZeroRedundancyOptimizer. Each
rank keeps only its own parameters' averaged gradients (about 1/N of them), and training
follows plain DDP with the plain optimizer."""
import numpy as np
import pytest

import distgrad.distributed as dist
import distgrad.optim as optim
from distgrad.nn import utils as nn_utils
from distgrad.distributed.optim import ZeroRedundancyOptimizer

from test_zero_optimizer import batches, model  # equal layers: whole parameters share out evenly


def backward(net, x):
    (net(x) ** 2).mean().backward()


def grad_bytes(net):
    return sum(p.grad.array.nbytes for p in net.parameters() if p.grad is not None)


def close(a, b):
    """Equal within float32 rounding: the reduce-scatter may add the ranks' terms in another order."""
    return np.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("bucket_cap_mb", [25, 0.002])  # one bucket; several, each split among owners
def test_training_follows_ddp_and_each_rank_keeps_its_own_gradients_only(bucket_cap_mb):
    plain_net = dist.DistributedDataParallel(model(), bucket_cap_mb=bucket_cap_mb)
    plain = optim.Adam(plain_net.parameters(), lr=0.01)
    zero_net = dist.DistributedDataParallel(model(), bucket_cap_mb=bucket_cap_mb, gradient_as_shards=True)
    zero = ZeroRedundancyOptimizer(zero_net.parameters(), optimizer_class=optim.Adam, lr=0.01)
    owned = {id(p) for group in zero.optim.param_groups for p in group["params"]}
    for x in batches(4):
        for opt, net in ((plain, plain_net), (zero, zero_net)):
            opt.zero_grad()
            backward(net, x)
        for p, q in zip(plain_net.parameters(), zero_net.parameters()):
            if id(q) in owned:  # the owner holds DDP's average
                assert close(p.grad.numpy(), q.grad.numpy())
            else:
                assert q.grad is None
        plain.step()
        zero.step()
    for p, q in zip(plain_net.parameters(), zero_net.parameters()):
        assert close(p.detach().numpy(), q.detach().numpy())

    n = dist.get_world_size()
    shares = dist.communicator().allgather_object(grad_bytes(zero_net))
    assert sum(shares) == grad_bytes(plain_net)
    assert max(shares) <= 1.05 * grad_bytes(plain_net) / n, shares
    # Between steps the reducer's buffers are this rank's share too, not DDP's whole buckets.
    assert zero_net.reducer.gradient_bytes == grad_bytes(zero_net)


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_accumulation_with_no_sync_and_zero_grad_to_zeros():
    plain_net = dist.DistributedDataParallel(model())
    plain = optim.SGD(plain_net.parameters(), lr=0.1, momentum=0.9)
    zero_net = dist.DistributedDataParallel(model(), gradient_as_shards=True)
    zero = ZeroRedundancyOptimizer(zero_net.parameters(), optimizer_class=optim.SGD, lr=0.1, momentum=0.9)
    data = batches(6)
    for first, second in zip(data[::2], data[1::2]):
        for opt, net in ((plain, plain_net), (zero, zero_net)):
            opt.zero_grad(set_to_none=False)
            with net.no_sync():
                backward(net, first)
            backward(net, second)
            opt.step()
    for p, q in zip(plain_net.parameters(), zero_net.parameters()):
        assert close(p.detach().numpy(), q.detach().numpy())


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_without_an_owner_backward_is_refused_clearly():
    net = dist.DistributedDataParallel(model(), gradient_as_shards=True)
    with pytest.raises(RuntimeError, match="no ZeroRedundancyOptimizer holds"):
        backward(net, batches(1)[0])
    with pytest.raises(NotImplementedError, match="uncompressed"):
        dist.DistributedDataParallel(model(), gradient_as_shards=True, compression="fp16")
    dist.barrier()


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_the_optimizers_clip_grad_norm_clips_as_plain_ddp_does(norm_type):
    plain_net = dist.DistributedDataParallel(model())
    plain = optim.Adam(plain_net.parameters(), lr=0.01)
    zero_net = dist.DistributedDataParallel(model(), gradient_as_shards=True)
    zero = ZeroRedundancyOptimizer(zero_net.parameters(), optimizer_class=optim.Adam, lr=0.01)
    for x in batches(3):
        for opt, net in ((plain, plain_net), (zero, zero_net)):
            opt.zero_grad()
            backward(net, x)
        expected = nn_utils.clip_grad_norm_(plain_net.parameters(), 0.01, norm_type)
        got = zero.clip_grad_norm_(0.01, norm_type)
        assert float(expected) > 0.01  # it clipped
        assert np.isclose(float(got), float(expected), rtol=1e-5)
        plain.step()
        zero.step()
    for p, q in zip(plain_net.parameters(), zero_net.parameters()):
        assert close(p.detach().numpy(), q.detach().numpy())
