"""GradScaler in a job of several ranks: when only one rank's gradients overflow, every rank
skips that step and backs its scale off, so the replicas stay equal."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.amp import GradScaler

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered")  # rank 0 overflows on purpose


def step(net, opt, scaler, factor):
    opt.zero_grad()
    x = dg.ones(2, 4) * (dist.get_rank() + 1)  # gradients differ per rank, not averaged (no DDP)
    scaler.scale(net(x).sum() * factor).backward()
    before = [p.detach().numpy().copy() for p in net.parameters()]
    scaler.step(opt)
    scaler.update()
    return all(np.array_equal(b, p.detach().numpy()) for b, p in zip(before, net.parameters()))


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_an_overflow_on_one_rank_makes_every_rank_skip():
    dg.manual_seed(0)
    net = nn.Linear(4, 3)
    opt = optim.SGD(net.parameters(), lr=0.1)
    scaler = GradScaler("cpu", init_scale=2.0 ** 8)
    overflow_here = float("inf") if dist.get_rank() == 0 else 1.0
    verdicts = dist.communicator().allgather_object((step(net, opt, scaler, overflow_here), scaler.get_scale()))
    assert verdicts == [(True, 2.0 ** 7)] * dist.get_world_size()  # all skipped, all backed off
    verdicts = dist.communicator().allgather_object((step(net, opt, scaler, 1.0), scaler.get_scale()))
    assert verdicts == [(False, 2.0 ** 7)] * dist.get_world_size()  # a clean step is taken everywhere
