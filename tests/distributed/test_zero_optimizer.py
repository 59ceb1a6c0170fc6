"""ZeroRedundancyOptimizer (ZeRO-1) under DDP: the same parameters as the plain optimizer, a
1/N share of its state per rank, and a state dict that round-trips across rank counts."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.distributed.optim import ZeroRedundancyOptimizer
from distgrad.utils.checkpoint import checkpoint

WIDTH, LAYERS, BATCH = 16, 6, 4


def model():
    """Equal layers, so that whole parameters can be shared out evenly at 2 and 3 ranks."""
    dg.manual_seed(3)
    return nn.Sequential(*[m for _ in range(LAYERS) for m in (nn.Linear(WIDTH, WIDTH), nn.Tanh())])


def batches(steps):
    rng = np.random.default_rng(11 + dist.get_rank())  # each rank its own data
    return [dg.from_numpy(rng.standard_normal((BATCH, WIDTH)).astype(np.float32)) for _ in range(steps)]


def train(net, opt, data):
    for x in data:
        opt.zero_grad()
        (net(x) ** 2).mean().backward()
        opt.step()


def pair(optimizer_class, **hyper):
    """A DDP model with the plain optimizer and one with ZeRO, from the same start."""
    plain_net, zero_net = dist.DistributedDataParallel(model()), dist.DistributedDataParallel(model())
    plain = optimizer_class(plain_net.parameters(), **hyper)
    zero = ZeroRedundancyOptimizer(zero_net.parameters(), optimizer_class=optimizer_class, **hyper)
    return plain_net, plain, zero_net, zero


def same_parameters(a, b):
    return all(np.array_equal(p.detach().numpy(), q.detach().numpy()) for p, q in zip(a.parameters(), b.parameters()))


def state_bytes(opt):
    return sum(v.array.nbytes for s in opt.state.values() for v in s.values() if isinstance(v, dg.Tensor))


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("optimizer_class, hyper", [(optim.Adam, dict(lr=0.01)),
                                                    (optim.SGD, dict(lr=0.1, momentum=0.9))])
def test_the_trajectory_is_the_plain_optimizers_and_each_rank_holds_a_1_over_n_share(optimizer_class, hyper):
    plain_net, plain, zero_net, zero = pair(optimizer_class, **hyper)
    data = batches(5)
    train(plain_net, plain, data)
    train(zero_net, zero, data)
    assert same_parameters(plain_net, zero_net)  # the owner's update is the plain one; the others copy it
    shares = dist.communicator().allgather_object(state_bytes(zero))
    assert sum(shares) == state_bytes(plain)
    assert max(shares) <= 1.05 * state_bytes(plain) / dist.get_world_size(), shares


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_param_groups_and_a_scheduler_reach_every_shard():
    plain_net, zero_net = dist.DistributedDataParallel(model()), dist.DistributedDataParallel(model())

    def groups(net):
        params = list(net.parameters())
        return [{"params": params[:4]}, {"params": params[4:8], "lr": 0.05}]

    plain = optim.Adam(groups(plain_net), lr=0.01)
    zero = ZeroRedundancyOptimizer(groups(zero_net), optimizer_class=optim.Adam, lr=0.01)
    for opt, net in ((plain, plain_net), (zero, zero_net)):
        opt.add_param_group({"params": list(net.parameters())[8:], "lr": 0.002})
        scheduler = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        for x in batches(5):
            opt.zero_grad()
            (net(x) ** 2).mean().backward()
            opt.step()
            scheduler.step()
    assert same_parameters(plain_net, zero_net)
    assert [g["lr"] for g in zero.param_groups] == [g["lr"] for g in plain.param_groups]


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_consolidated_state_dict_is_the_plain_one_and_resumes_on_fewer_ranks():
    plain_net, plain, zero_net, zero = pair(optim.Adam, lr=0.01)
    data = batches(3)
    train(plain_net, plain, data)
    train(zero_net, zero, data)
    zero.consolidate_state_dict(to=0)
    if dist.get_rank() == 0:
        saved, expected = zero.state_dict(), plain.state_dict()
        assert saved["param_groups"] == expected["param_groups"]
        assert sorted(saved["state"]) == sorted(expected["state"])
        for key, values in expected["state"].items():
            for name, value in values.items():
                got = saved["state"][key][name]
                assert np.array_equal(np.asarray(getattr(got, "array", got)), np.asarray(getattr(value, "array", value)))
    else:
        with pytest.raises(RuntimeError, match="consolidate_state_dict"):
            zero.state_dict()
        saved = None
    saved = dist.broadcast_object(as_arrays(saved), src=0)  # tensors are not pickled

    # Resume from it with the plain optimizer, and with ZeRO on one rank fewer, on the same data.
    fewer = dist.new_group(list(range(dist.get_world_size() - 1)))
    common = [dg.from_numpy(np.full((BATCH, WIDTH), 0.1 * k, dtype=np.float32)) for k in range(3)]
    reference_net = copy_of(zero_net)
    reference = optim.Adam(reference_net.parameters(), lr=0.01)
    reference.load_state_dict(saved)
    train(reference_net, reference, common)
    if dist.get_rank() < dist.get_world_size() - 1:
        resumed_net = copy_of(zero_net)
        resumed = ZeroRedundancyOptimizer(resumed_net.parameters(), optimizer_class=optim.Adam,
                                          process_group=fewer, lr=0.01)
        resumed.load_state_dict(saved)
        train(resumed_net, resumed, common)
        assert same_parameters(reference_net, resumed_net)
        if dist.get_world_size() > 2:
            assert state_bytes(resumed) < state_bytes(reference)
    dist.barrier()


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_what_is_not_supported_is_refused_clearly():
    params = list(model().parameters())
    with pytest.raises(NotImplementedError, match="overlap_with_ddp"):
        ZeroRedundancyOptimizer(params, optimizer_class=optim.SGD, overlap_with_ddp=True, lr=0.1)
    with pytest.raises(TypeError, match="optimizer_class must be an optimizer class"):
        ZeroRedundancyOptimizer(params, optimizer_class="Adam", lr=0.1)


class Checkpointed(nn.Module):
    """model() with each Linear + Tanh pair run under activation checkpointing."""

    def __init__(self):
        super().__init__()
        self.layers = model()

    def forward(self, x):
        for i in range(0, len(self.layers), 2):
            x = checkpoint(self.layers[i:i + 2], x, use_reentrant=False)
        return x


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_checkpointed_blocks_under_ddp_with_zero_follow_plain_ddp():
    plain_net = dist.DistributedDataParallel(model())
    plain = optim.Adam(plain_net.parameters(), lr=0.01)
    ckpt_net = dist.DistributedDataParallel(Checkpointed(), bucket_cap_mb=0.001)  # several buckets
    zero = ZeroRedundancyOptimizer(ckpt_net.parameters(), optimizer_class=optim.Adam, lr=0.01)
    data = batches(4)
    train(plain_net, plain, data)
    train(ckpt_net, zero, data)
    for p, q in zip(plain_net.parameters(), ckpt_net.parameters()):  # all-reduce order may differ: float32
        assert np.allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def copy_of(net):
    copy = model()
    for p, q in zip(copy.parameters(), net.parameters()):
        p.array[...] = q.array
    return copy


def as_arrays(state_dict):
    if state_dict is None:
        return None
    state = {k: {n: getattr(v, "array", v) for n, v in values.items()} for k, values in state_dict["state"].items()}
    return {"state": state, "param_groups": state_dict["param_groups"]}
