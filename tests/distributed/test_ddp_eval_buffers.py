"""Evaluation after training sees the same BatchNorm statistics on every rank: as PyTorch's
DDP with broadcast_buffers=True, the first forward without gradients after a training
forward takes rank 0's buffers. Later evaluation forwards communicate nothing, so ranks may
evaluate different numbers of batches."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from ddp_setups import checksum, same_on_all_ranks

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


def local_batch(seed):
    rng = np.random.default_rng(100 * seed + dist.get_rank())  # each rank its own data
    return dg.from_numpy((rng.standard_normal((8, 4)) * (1 + dist.get_rank())).astype(np.float32))


def test_evaluation_after_training_gives_the_same_outputs_on_every_rank():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    ddp = dist.DistributedDataParallel(model)
    opt = optim.SGD(ddp.parameters(), lr=0.1)
    for step in range(3):
        opt.zero_grad()
        ddp(local_batch(step)).sum().backward()
        opt.step()
    assert not same_on_all_ranks(checksum(model[1].buffers()))  # each rank's own statistics so far
    ddp.eval()
    probe = dg.ones(3, 4)
    with dg.no_grad():
        outputs = [ddp(probe) for _ in range(1 + dist.get_rank())]  # rank r evaluates r + 1 batches
    assert same_on_all_ranks(checksum(outputs[:1]))
    assert all(checksum([out]) == checksum(outputs[:1]) for out in outputs)
    assert same_on_all_ranks(checksum(model[1].buffers()))
    ddp.train()  # training goes on with the same collectives on every rank
    opt.zero_grad()
    ddp(local_batch(9)).sum().backward()
    opt.step()
    assert same_on_all_ranks(checksum(model.parameters()))
