"""SyncBatchNorm: with statistics over every rank's batch, N ranks of batch b train exactly as
one process of batch N*b with plain BatchNorm (no chunking of the reference needed), running
statistics included; uneven per-rank batches are weighted by their sizes."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from ddp_setups import LR, MOMENTUM, build, checksum, global_data, loss_of, max_difference, same_on_all_ranks, shard

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]

STEPS, PER_RANK = 10, 6
FLOAT32 = 5e-6


def test_n_ranks_with_sync_batchnorm_equal_one_process_with_batchnorm():
    rank, size = dist.get_rank(), dist.get_world_size()
    xs, ys = global_data("cnn", STEPS, PER_RANK * size)
    reference = build("cnn", seed=100)
    ref_opt = optim.SGD(reference.parameters(), lr=LR, momentum=MOMENTUM)
    for x, y in zip(xs, ys):
        ref_opt.zero_grad()
        loss_of(reference, x, y).backward()  # the whole global batch through plain BatchNorm
        ref_opt.step()

    model = nn.SyncBatchNorm.convert_sync_batchnorm(build("cnn", seed=100 + rank))
    assert isinstance(model[1], nn.SyncBatchNorm)
    net = dist.DistributedDataParallel(model)
    opt = optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss_of(net, shard(x, rank, size), shard(y, rank, size)).backward()
        opt.step()

    difference = max_difference(model, reference)
    assert difference <= FLOAT32, f"rank {rank}: max |difference| {difference:.3g}"
    for ours, theirs in zip(model.buffers(), reference.buffers()):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    assert same_on_all_ranks(checksum(model.parameters()))


def test_uneven_batches_give_the_statistics_of_their_union():
    rank, size = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(11)
    sizes = [2 + 3 * r for r in range(size)]
    full = rng.standard_normal((sum(sizes), 3, 4)).astype(np.float32) * 2 + 1
    upstream = rng.standard_normal(full.shape).astype(np.float32)
    start = sum(sizes[:rank])
    mine = slice(start, start + sizes[rank])

    plain = nn.BatchNorm1d(3)
    x_all = dg.from_numpy(full.copy()).requires_grad_()
    out_all = plain(x_all)
    (out_all * dg.from_numpy(upstream)).sum().backward()

    synced = nn.SyncBatchNorm(3)
    x = dg.from_numpy(full[mine].copy()).requires_grad_()
    out = synced(x)
    (out * dg.from_numpy(upstream[mine])).sum().backward()

    np.testing.assert_allclose(out.detach().numpy(), out_all.detach().numpy()[mine], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), x_all.grad.numpy()[mine], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(synced.running_var.numpy(), plain.running_var.numpy(), rtol=1e-5)
    # The affine parameters' gradients are this rank's share: DDP sums them over ranks.
    total = np.zeros(3, np.float32)
    total += synced.weight.grad.numpy()
    summed = dist.communicator().allreduce(total, "sum")
    np.testing.assert_allclose(summed, plain.weight.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_eval_without_running_statistics_normalizes_each_rank_alone():
    bn = nn.SyncBatchNorm(2, affine=False, track_running_stats=False).eval()
    mine = np.random.default_rng(dist.get_rank()).standard_normal((3 + dist.get_rank(), 2)).astype(np.float32)
    out = bn(dg.from_numpy(mine))  # batch statistics of this rank's batch: no collective to wait in
    expected = (mine - mine.mean(axis=0)) / np.sqrt(mine.var(axis=0) + 1e-5)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_eval_uses_the_running_statistics_without_communication():
    bn = nn.SyncBatchNorm(2).eval()
    rank_specific = dg.from_numpy(np.full((2 + dist.get_rank(), 2), float(dist.get_rank()), np.float32))
    out = bn(rank_specific)  # a batch size of its own on each rank: eval must not communicate
    np.testing.assert_allclose(out.detach().numpy(), rank_specific.numpy() / np.sqrt(1 + 1e-5), rtol=1e-6)
