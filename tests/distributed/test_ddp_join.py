"""DDP.join: ranks with different numbers of batches finish without hanging, reduce what
the ranks still training computed, and leave with identical replicas."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from ddp_setups import checksum, same_on_all_ranks

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]

LR = 0.1


def model():
    dg.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))


def batches(rank):
    """Rank r has 3 + 2r batches: every rank runs out at a different step."""
    rng = np.random.default_rng(50 + rank)
    return [(rng.standard_normal((6, 5)).astype(np.float32), rng.integers(0, 2, 6)) for _ in range(3 + 2 * rank)]


def local_gradients(net, x, y):
    net.zero_grad()
    nn.CrossEntropyLoss()(net(dg.from_numpy(x)), dg.from_numpy(y)).backward()
    return [p.grad.numpy().copy() for p in net.parameters()]


def reference(size, divide_by_initial_world_size):
    """One process replaying every step: the gradients of the ranks still training, summed,
    divided by the world size or by how many still train."""
    net = model()
    data = [batches(r) for r in range(size)]
    for step in range(max(len(d) for d in data)):
        training = [r for r in range(size) if step < len(data[r])]
        grads = [local_gradients(net, *data[r][step]) for r in training]
        divisor = size if divide_by_initial_world_size else len(training)
        for i, p in enumerate(net.parameters()):
            p.array -= np.float32(LR) * (sum(g[i] for g in grads) / np.float32(divisor))
    return [p.detach().numpy() for p in net.parameters()]


def train_with_join(**join_options):
    ddp = dist.DistributedDataParallel(model())
    opt = optim.SGD(ddp.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    with ddp.join(**join_options):
        for x, y in batches(dist.get_rank()):
            opt.zero_grad()
            criterion(ddp(dg.from_numpy(x)), dg.from_numpy(y)).backward()
            opt.step()
    return ddp


@pytest.mark.parametrize("divide_by_initial_world_size", [True, False])
def test_uneven_inputs_finish_and_match_one_process(divide_by_initial_world_size):
    ddp = train_with_join(divide_by_initial_world_size=divide_by_initial_world_size)
    expected = reference(dist.get_world_size(), divide_by_initial_world_size)
    for p, want in zip(ddp.parameters(), expected):
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    assert same_on_all_ranks(checksum(ddp.module.state_dict().values()))


def test_a_rank_without_any_batch_joins_from_the_start():
    ddp = dist.DistributedDataParallel(model())
    opt = optim.SGD(ddp.parameters(), lr=LR)
    mine = [] if dist.get_rank() == 0 else batches(dist.get_rank())
    with ddp.join():
        for x, y in mine:
            opt.zero_grad()
            nn.CrossEntropyLoss()(ddp(dg.from_numpy(x)), dg.from_numpy(y)).backward()
            opt.step()
    assert same_on_all_ranks(checksum(ddp.module.state_dict().values()))


def test_the_reducer_divides_by_the_world_size_again_after_join():
    ddp = train_with_join(divide_by_initial_world_size=False)
    assert ddp.reducer.scale == 1.0 / dist.get_world_size()
    assert ddp._join is None


def test_throw_on_early_termination_raises_on_every_rank_naming_the_rank_out_of_data():
    with pytest.raises(RuntimeError, match=r"ranks \[0\] ran out of inputs"):
        train_with_join(throw_on_early_termination=True)


def test_buffers_come_from_a_rank_still_training():
    dg.manual_seed(4)
    net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    ddp = dist.DistributedDataParallel(net)
    opt = optim.SGD(ddp.parameters(), lr=LR)
    rank = dist.get_rank()
    with ddp.join():
        for x, y in batches(rank):
            opt.zero_grad()
            nn.CrossEntropyLoss()(ddp(dg.from_numpy(x)), dg.from_numpy(y)).backward()
            opt.step()
    # The last rank trained alone last; everyone leaves with its running statistics.
    assert same_on_all_ranks(checksum(net.state_dict().values()))
    assert int(net[1].num_batches_tracked.numpy()) == len(batches(dist.get_world_size() - 1))


def test_even_inputs_through_join_equal_plain_ddp():
    def run(use_join):
        ddp = dist.DistributedDataParallel(model())
        opt = optim.SGD(ddp.parameters(), lr=LR)
        data = batches(0)  # 3 batches on every rank
        with ddp.join(enable=use_join):
            for x, y in data:
                opt.zero_grad()
                nn.CrossEntropyLoss()(ddp(dg.from_numpy(x)), dg.from_numpy(y)).backward()
                opt.step()
        return [p.detach().numpy().copy() for p in ddp.parameters()]
    for a, b in zip(run(True), run(False)):
        np.testing.assert_array_equal(a, b)


def test_join_twice_at_once_is_an_error():
    ddp = dist.DistributedDataParallel(model())
    with ddp.join():
        with pytest.raises(RuntimeError, match="already inside a join"):
            with ddp.join():
                pass
