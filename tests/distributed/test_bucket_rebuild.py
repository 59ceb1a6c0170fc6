"""DDP rebuilds its buckets once, in the order the first backward produced gradients, so a
model that registers its layers in another order than it runs them still overlaps; the
gradients stay exact across the rebuild."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
from distgrad.world.comm.naive import NaiveCommunicator

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


class HeadFirst(nn.Module):
    """Registers the head before the body it follows: registration order is not the order
    gradients arrive in."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 3)
        self.body = nn.Linear(6, 16)

    def forward(self, x):
        return self.head(self.body(x).relu())


def batch(step):
    rng = np.random.default_rng(10 * step + dist.get_rank())
    return dg.from_numpy(rng.standard_normal((5, 6)).astype(np.float32))


def expected_gradients(model, x):
    """Each local gradient averaged with one naive all-reduce."""
    naive = NaiveCommunicator()
    model.zero_grad()
    model(x).sum().backward()
    grads = [naive.allreduce(p.grad.numpy().copy(), "mean") for p in model.parameters()]
    model.zero_grad()
    return grads


def test_buckets_follow_the_observed_order_and_gradients_stay_exact():
    dg.manual_seed(0)
    model = HeadFirst()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4)  # one parameter a bucket
    reducer = ddp.reducer
    assert reducer.bucket_indices == [[3], [2], [1], [0]]  # body first: what registration suggests

    launched = []  # buckets started by the time each gradient arrives, in arrival order

    for step in range(3):
        x = batch(step)
        expected = expected_gradients(model, x)
        ddp.zero_grad(set_to_none=step != 1)  # both ways of zeroing must survive the rebuild
        if step == 2:
            for p in model.parameters():  # runs after DDP's own hook on the same parameter
                p.register_post_accumulate_grad_hook(lambda p: launched.append(reducer._next))
        ddp(x).sum().backward()
        for p, want in zip(model.parameters(), expected):
            np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-6, atol=1e-7)
        if step == 0:  # rebuilt after the first reduction: head (0, 1) arrives before body (2, 3)
            assert sorted(reducer.bucket_indices[:2]) == [[0], [1]]
            assert sorted(reducer.bucket_indices[2:]) == [[2], [3]]
    # Every gradient now leaves as it arrives (before the rebuild the head's waited for the body's).
    assert launched == [1, 2, 3, 4]
    flats = {id(b.flat) for b in reducer.buckets}
    assert all(id(p.grad.array.base) in flats for p in model.parameters())  # .grad lives in the buckets
