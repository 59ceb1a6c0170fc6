"""new_group: collectives, DDP and SyncBatchNorm over a subset of the ranks; ranks outside
take no part; src/dst stay world ranks, as in torch."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


def first_and_last():
    size = dist.get_world_size()
    return dist.new_group([size - 1, 0]), [0, size - 1]


def test_all_reduce_and_broadcast_inside_a_group():
    rank, size = dist.get_rank(), dist.get_world_size()
    group, members = first_and_last()
    t = dg.tensor([float(rank + 1)])
    if rank not in members:
        assert group is dist.GroupMember.NON_GROUP_MEMBER
        assert dist.get_rank(group) == -1
        with pytest.raises(ValueError, match="not a member of the group"):
            dist.all_reduce(t, group=group)
        return
    assert dist.get_world_size(group) == 2 and dist.get_rank(group) == members.index(rank)
    assert dist.get_process_group_ranks(group) == members
    dist.all_reduce(t, group=group)
    assert t.tolist() == [1.0 + size]
    b = dg.tensor([float(rank)])
    dist.broadcast(b, src=size - 1, group=group)  # a world rank
    assert b.tolist() == [float(size - 1)]
    with pytest.raises(ValueError, match=r"group rank \d/2\] broadcast: src=5 is not a member of this group"):
        dist.broadcast(b, src=5, group=group)


def test_messages_inside_a_group_name_world_ranks():
    rank, size = dist.get_rank(), dist.get_world_size()
    group, members = first_and_last()
    if rank == 0:
        dist.send(dg.tensor([42]), dst=size - 1, group=group)
    elif rank == size - 1:
        box = dg.zeros(1, dtype=dg.int64)
        assert dist.recv(box, group=group) == 0 and box.tolist() == [42]


def model_and_group_average():
    """A model, this rank's batch, and the average over the group's ranks of every rank's
    weight gradient (all ranks take part; only members get a group)."""
    rank = dist.get_rank()
    group, members = first_and_last()
    dg.manual_seed(0)
    model = nn.Linear(3, 2)
    x = dg.from_numpy(np.full((4, 3), rank + 1.0, np.float32))
    model(x).sum().backward()
    everyone = dist.all_gather_object(model.weight.grad.numpy().copy())
    model.zero_grad()
    return model, x, group, np.mean([everyone[r] for r in members], axis=0)


def test_ddp_averages_over_the_group_only():
    model, x, group, expected = model_and_group_average()
    if group is dist.GroupMember.NON_GROUP_MEMBER:
        return
    ddp = dist.DistributedDataParallel(model, process_group=group)
    ddp(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), expected, rtol=1e-6)


def test_distributed_optimizer_averages_over_the_group_only():
    model, x, group, expected = model_and_group_average()
    if group is dist.GroupMember.NON_GROUP_MEMBER:
        return
    opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.0), process_group=group)
    model(x).sum().backward()
    opt.synchronize()
    np.testing.assert_allclose(model.weight.grad.numpy(), expected, rtol=1e-6)


def test_sync_batchnorm_over_a_group():
    rank, size = dist.get_rank(), dist.get_world_size()
    group, members = first_and_last()
    data = {r: np.random.default_rng(r).standard_normal((4, 2)).astype(np.float32) for r in range(size)}
    if rank not in members:
        return
    bn = nn.SyncBatchNorm(2, momentum=1.0, process_group=group)
    bn(dg.from_numpy(data[rank]))
    union = np.concatenate([data[r] for r in members])
    np.testing.assert_allclose(bn.running_mean.numpy(), union.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_ranks_that_ask_for_different_groups_are_told_so():
    rank = dist.get_rank()
    with pytest.raises(ValueError, match="new_group: the ranks disagree"):
        dist.new_group([0, 1] if rank == 0 else [1])
