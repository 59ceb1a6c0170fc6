"""Two ranks sharing one GPU (DISTGRAD_ALLOW_GPU_SHARING=1), started by test_gpu_mpi.py under
mpiexec: collectives on GPU tensors (a mismatch caught by the collective verification), and
DDP over MPI on the GPU must give the parameters of one process training on both ranks'
batches together (the data-parallel identity).
DISTGRAD_TEST_DEVICE=cpu runs the same checks on the CPU (to check this script itself)."""
import os
import sys

import numpy as np

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim

STEPS, BATCH = 5, 32
DEVICE = os.environ.get("DISTGRAD_TEST_DEVICE", "cuda")


def seed_mlp():
    dg.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).to(DEVICE)


def data(rank):
    rng = np.random.default_rng(100 + rank)
    x = rng.standard_normal((STEPS, BATCH, 1, 28, 28)).astype(np.float32)
    return x, rng.integers(0, 10, (STEPS, BATCH))


def train(model, batches):
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for x, y in batches:
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(dg.tensor(x, device=DEVICE)), dg.tensor(y, device=DEVICE)).backward()
        opt.step()
    return [p.detach().cpu().numpy() for p in model.parameters()]


def mismatch_is_caught(rank):
    """Collective verification on device tensors: different shapes on the two ranks raise on
    both, naming them, and the next collective still pairs."""
    try:
        dist.all_reduce(dg.ones(3 + rank, device=DEVICE))
    except RuntimeError as e:
        assert "does not match across ranks" in str(e) and "(3,)" in str(e) and "(4,)" in str(e), str(e)
    else:
        raise AssertionError("all_reduce of shapes (3,) and (4,) did not raise")
    t = dg.ones(2, device=DEVICE)
    dist.all_reduce(t)
    assert np.all(t.cpu().numpy() == 2.0), "the collective after a mismatch"


def rooted_and_messages(rank):
    r = dg.full((4,), float(rank + 1), device=DEVICE)
    dist.reduce(r, dst=1)
    assert np.all(r.cpu().numpy() == (3.0 if rank == 1 else 1.0)), "reduce on a GPU tensor"
    out = [dg.zeros(2, device=DEVICE) for _ in range(2)] if rank == 0 else None
    dist.gather(dg.full((2,), float(rank), device=DEVICE), out, dst=0)
    assert rank != 0 or [float(o.cpu().numpy()[0]) for o in out] == [0.0, 1.0], "gather of GPU tensors"
    mine = dg.zeros(3, device=DEVICE)
    dist.scatter(mine, [dg.full((3,), 5.0 + r, device=DEVICE) for r in range(2)] if rank == 1 else None, src=1)
    assert np.all(mine.cpu().numpy() == 5.0 + rank), "scatter of GPU tensors"
    box = dg.full((6,), 7.0, device=DEVICE) if rank == 0 else dg.zeros(6, device=DEVICE)
    if rank == 0:
        dist.send(box, dst=1)
    else:
        assert dist.recv(box) == 0 and np.all(box.cpu().numpy() == 7.0), "send/recv of GPU tensors"


def sync_batchnorm(rank):
    both = np.random.default_rng(7).standard_normal((8, 3)).astype(np.float32)
    bn = nn.SyncBatchNorm(3, momentum=1.0).to(DEVICE)
    bn(dg.tensor(both[4 * rank:4 * rank + 4], device=DEVICE))
    np.testing.assert_allclose(bn.running_mean.cpu().numpy(), both.mean(axis=0), rtol=1e-5, atol=1e-6,
                               err_msg="SyncBatchNorm statistics on the GPU")


def uneven_inputs_with_join(rank):
    model = dist.DistributedDataParallel(seed_mlp())
    x, y = data(rank)
    opt = optim.SGD(model.parameters(), lr=0.05)
    with model.join():
        for xb, yb in list(zip(x, y))[:2 + rank]:  # rank 1 takes one step more
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(dg.tensor(xb, device=DEVICE)), dg.tensor(yb, device=DEVICE)).backward()
            opt.step()
    sums = dist.all_gather_object(float(sum(np.float64(p.detach().cpu().numpy()).sum()
                                            for p in model.parameters())))
    assert sums[0] == sums[1], f"replicas differ after join: {sums}"


def main():
    dist.init()
    rank, size = dist.get_rank(), dist.get_world_size()
    assert size == 2, f"expected 2 ranks, got {size}"
    if DEVICE == "cuda":
        assert dg.cuda.current_device() == 0, f"rank {rank} uses GPU {dg.cuda.current_device()}, not the shared GPU 0"

    t = dg.full((1000,), float(rank + 1), device=DEVICE)
    dist.all_reduce(t, op="sum")
    assert t.is_cuda == (DEVICE == "cuda") and np.all(t.cpu().numpy() == 3.0), "all_reduce on a GPU tensor"
    b = dg.full((7,), float(rank), device=DEVICE)
    dist.broadcast(b, src=1)
    assert np.all(b.cpu().numpy() == 1.0), "broadcast on a GPU tensor"
    rows = dist.all_gather(dg.full((3,), float(rank), device=DEVICE))
    assert [float(r.cpu().numpy()[0]) for r in rows] == [0.0, 1.0] and rows[1].device == t.device, "all_gather"

    rooted_and_messages(rank)
    mismatch_is_caught(rank)
    sync_batchnorm(rank)
    uneven_inputs_with_join(rank)

    model = dist.DistributedDataParallel(seed_mlp())
    x, y = data(rank)
    got = train(model, zip(x, y))
    # every rank computes the one-process reference on both ranks' batches
    (x0, y0), (x1, y1) = data(0), data(1)
    reference = train(seed_mlp(), ((np.concatenate([a, b]), np.concatenate([c, d]))
                                   for a, b, c, d in zip(x0, x1, y0, y1)))
    for g, r in zip(got, reference):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)
    checksum = float(sum(np.float64(g).sum() for g in got))
    sums = dist.all_gather_object(checksum)
    assert sums[0] == sums[1], f"replicas differ: {sums}"
    dist.barrier()
    if rank == 0:
        print(f"two ranks on one {DEVICE}: OK", flush=True)


if __name__ == "__main__":
    sys.exit(main())
