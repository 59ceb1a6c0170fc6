"""What goes wrong in real jobs: parameters without gradients on some ranks, models that
differ between ranks, state that must start equal. None of it may hang."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.world.comm.naive import NaiveCommunicator
from ddp_setups import checksum, same_on_all_ranks

# every test here: under mpiexec with at least 2 ranks, failed (not hung) after 60 s
pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 5)
        self.head_a = nn.Linear(5, 3)
        self.head_b = nn.Linear(5, 3)
        self.spare = nn.Linear(2, 2)  # never used by anyone

    def forward(self, x, use_b=True):
        h = self.body(x).relu()
        out = self.head_a(h)
        return out + self.head_b(h) if use_b else out


def local_batch(seed):
    rng = np.random.default_rng(100 * seed + dist.get_rank())
    return dg.from_numpy(rng.standard_normal((4, 6)).astype(np.float32))


def averaged_local_gradients(model, x, use_b):
    """The reference: local gradients of a plain copy, each averaged with one naive all-reduce
    (zeros where this rank has none)."""
    naive = NaiveCommunicator()
    model(x, use_b=use_b).sum().backward()
    result = {}
    for name, p in model.named_parameters():
        local = p.grad.numpy().copy() if p.grad is not None else np.zeros(p.shape, np.float32)
        result[name] = naive.allreduce(local, "mean")
        p.grad = None
    return result


@pytest.mark.parametrize("find_unused", [False, True])
def test_a_head_unused_on_rank_0_neither_hangs_nor_biases_the_average(find_unused, capfd):
    dg.manual_seed(0)
    model = TwoHeads()
    use_b = dist.get_rank() != 0
    x = local_batch(0)
    expected = averaged_local_gradients(model, x, use_b)
    ddp = dist.DistributedDataParallel(model, find_unused_parameters=find_unused, bucket_cap_mb=0.0001)
    for step in range(2):  # the same gradients twice: nothing may leak into the next step
        ddp.zero_grad()
        ddp(x, use_b=use_b).sum().backward()
        for name, p in model.named_parameters():
            if name.startswith("spare"):  # no rank used it: left alone, as in PyTorch
                assert p.grad is None
                continue
            np.testing.assert_allclose(p.grad.numpy(), expected[name], rtol=1e-6, atol=1e-7, err_msg=name)
    warnings = capfd.readouterr().err
    assert warnings.count("got no gradient on this rank") == 1  # reported once
    expected_names = "head_b.weight, head_b.bias, spare.weight, spare.bias" if dist.get_rank() == 0 \
        else "spare.weight, spare.bias"
    assert f"got no gradient on this rank: {expected_names}" in warnings


def test_ddp_gradients_equal_per_tensor_naive_averages():
    def build():
        dg.manual_seed(1)
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
    plain, model = build(), build()
    x = local_batch(1)
    plain(x).sum().backward()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.001)
    assert len(ddp.reducer.buckets) > 1
    ddp(x).sum().backward()
    naive = NaiveCommunicator()
    for (name, p), q in zip(model.named_parameters(), plain.parameters()):
        expected = naive.allreduce(q.grad.numpy().copy(), "mean")
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-5, atol=1e-7, err_msg=name)


def test_a_model_that_differs_is_refused_on_every_rank_naming_the_difference():
    rank = dist.get_rank()
    model = nn.Sequential(nn.Linear(6, 4 if rank == 1 else 5), nn.ReLU())
    with pytest.raises(RuntimeError) as info:
        dist.DistributedDataParallel(model)
    message = str(info.value)
    assert message.startswith(f"[rank {rank}/")
    assert "DistributedDataParallel: the model differs between ranks" in message
    assert "parameter '0.weight' has shape (5, 6) on rank 0 but (4, 6) on rank 1" in message


def test_an_extra_layer_on_one_rank_is_refused_everywhere():
    layers = [nn.Linear(3, 3)] + ([nn.Linear(3, 3)] if dist.get_rank() == 1 else [])
    with pytest.raises(RuntimeError, match=r"rank 1 has an extra parameter '1.weight' of shape \(3, 3\)"):
        dist.DistributedDataParallel(nn.Sequential(*layers))
    params = [p for layer in layers for p in layer.parameters()]
    with pytest.raises(RuntimeError, match="DistributedOptimizer: the model differs between ranks"):
        dist.DistributedOptimizer(optim.SGD(params, lr=0.1))


def test_wrapping_gives_every_rank_rank_0_parameters_and_buffers():
    dg.manual_seed(dist.get_rank())
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model[1].running_mean.array[...] = dist.get_rank()
    assert not same_on_all_ranks(checksum(model.state_dict().values()))
    dist.DistributedDataParallel(model)
    assert same_on_all_ranks(checksum(model.state_dict().values()))
    assert model[1].running_mean.tolist() == [0.0] * 4


def test_broadcast_parameters_and_optimizer_state():
    rank = dist.get_rank()
    dg.manual_seed(rank)
    model = nn.Linear(4, 3)
    opt = optim.SGD(model.parameters(), lr=0.1 * (rank + 1), momentum=0.9)
    if rank == 0:  # only rank 0 has momentum buffers, as after resuming from its checkpoint
        model(dg.ones(2, 4)).sum().backward()
        opt.step()
    for form in (list(model.parameters()), list(model.named_parameters()), model.state_dict(), model):
        dist.broadcast_parameters(form, src=0)
        assert same_on_all_ranks(checksum(model.parameters()))
    dist.broadcast_optimizer_state(opt, src=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    buffers = [opt.state[p]["momentum_buffer"] for p in model.parameters()]
    assert same_on_all_ranks(checksum(buffers))
    opt.zero_grad()
    model(dg.ones(2, 4)).sum().backward()
    opt.step()  # the restored state is usable
    assert same_on_all_ranks(checksum(model.parameters()))


def test_distributed_optimizer_refuses_a_pass_too_many():
    dg.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1), named_parameters=model.named_parameters())
    model(dg.ones(1, 3)).sum().backward()
    with pytest.raises(RuntimeError, match="parameter '(weight|bias)' received a gradient after its share .* "
                                           "backward_passes_per_step=1"):
        model(dg.ones(1, 3)).sum().backward()
    opt.synchronize()  # every rank still finishes the reduction it started


def test_distributed_optimizer_synchronize_then_clip_then_step():
    dg.manual_seed(0)
    model = nn.Linear(3, 2)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=1.0))
    x = local_batch(3)[:, :3] * (dist.get_rank() + 1)  # very different gradients on each rank
    model(x).sum().backward()
    local = [p.grad.numpy().copy() for p in model.parameters()]
    opt.synchronize()
    naive = NaiveCommunicator()
    averaged = [naive.allreduce(g, "mean") for g in local]
    for p, g in zip(model.parameters(), averaged):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-6)
    nn.utils.clip_grad_norm_(model.parameters(), 0.01)
    clipped = [p.grad.numpy().copy() for p in model.parameters()]
    with opt.skip_synchronize():
        opt.step()
    for p, b, g in zip(model.parameters(), before, clipped):
        np.testing.assert_allclose(p.detach().numpy(), b - g, rtol=1e-6)
    assert same_on_all_ranks(checksum(model.parameters()))


def test_the_reducer_gives_the_same_gradients_over_the_naive_communicator():
    from distgrad.distributed.reducer import Reducer

    def build():
        dg.manual_seed(2)
        return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    fast_model, slow_model = build(), build()
    fast = dist.DistributedDataParallel(fast_model, bucket_cap_mb=0.0002)
    named = list(slow_model.named_parameters())
    slow = Reducer([p for _, p in named], [n for n, _ in named], NaiveCommunicator(),
                   bucket_cap_bytes=int(0.0002 * 1024 * 1024))
    slow.install_hooks()
    assert slow.bucket_indices == fast.reducer.bucket_indices and len(slow.bucket_indices) > 1
    x = local_batch(4)
    for model in (fast, slow_model):
        model(x).sum().backward()
    for (name, p), q in zip(fast_model.named_parameters(), slow_model.parameters()):
        # blocking and non-blocking all-reduce may add in another order: float32 rounding
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-9, err_msg=name)
    slow.remove_hooks()
