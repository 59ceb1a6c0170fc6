"""elastic.State across ranks: in the host's folder (distgrad-run's DISTGRAD_ELASTIC_DIR) one
rank per host writes each commit, the replicas being equal, and every rank restores it."""
import glob
import os
import shutil
import tempfile

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.distributed.elastic import State


@pytest.fixture
def host_folder(monkeypatch):
    folder = dist.broadcast_object(tempfile.mkdtemp(prefix="distgrad-elastic-test-") if dist.get_rank() == 0
                                   else None, src=0)
    monkeypatch.setenv("DISTGRAD_ELASTIC_DIR", folder)
    yield folder
    dist.barrier()
    if dist.get_rank() == 0:
        shutil.rmtree(folder, ignore_errors=True)


def trained_state():
    dg.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Linear(4, 3))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = dg.from_numpy(np.random.default_rng(dist.get_rank()).standard_normal((2, 4)).astype(np.float32))
    for _ in range(3):
        optimizer.zero_grad()
        (model(x) ** 2).mean().backward()
        optimizer.step()
    return model, optimizer


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_one_rank_per_host_writes_and_every_rank_restores(host_folder):
    model, optimizer = trained_state()
    state = State(model, optimizer, step=7)
    state.commit()
    state.commit()
    dist.barrier()
    # every rank of this test runs on one host: only its local rank 0 wrote (both slots)
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(host_folder, "*.snapshot"))) == \
        ["rank0.0.snapshot", "rank0.1.snapshot"]
    weight = model.module.weight.detach().numpy().copy()
    momentum = optimizer.state_dict()["state"][0]["momentum_buffer"].numpy().copy()

    fresh, fresh_optimizer = trained_state()
    with dg.no_grad():
        fresh.module.weight.mul_(0)
    restored = State(fresh, fresh_optimizer, step=0)
    assert restored.restore() == "the snapshot of commit 2 (held by rank 0)"
    assert restored.step == 7 and restored.commits == 2
    np.testing.assert_array_equal(fresh.module.weight.detach().numpy(), weight)
    np.testing.assert_array_equal(fresh_optimizer.state_dict()["state"][0]["momentum_buffer"].numpy(), momentum)
