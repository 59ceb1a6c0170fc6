"""reduce, gather, scatter, gather_object and point-to-point messages on 2 and 3 ranks, with
a root other than rank 0, against values every rank can work out itself."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


def values(rank, shape=(2, 3)):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape) * (rank + 1)


def everyone():
    return [values(r) for r in range(dist.get_world_size())]


@pytest.mark.parametrize("op,combine", [("sum", np.sum), ("max", np.max), ("mean", np.mean)])
def test_reduce_lands_on_dst_only(op, combine):
    rank, last = dist.get_rank(), dist.get_world_size() - 1
    t = dg.from_numpy(values(rank).copy())
    assert dist.reduce(t, dst=last, op=op) is None
    expected = combine(np.stack(everyone()), axis=0) if rank == last else values(rank)
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)


def test_reduce_of_a_transposed_tensor_async():
    rank = dist.get_rank()
    t = dg.from_numpy(values(rank).copy()).T
    dist.reduce(t, dst=0, async_op=True).wait()
    if rank == 0:
        np.testing.assert_array_equal(t.numpy(), np.sum(everyone(), axis=0).T)


def test_gather_fills_the_list_on_dst():
    rank, size = dist.get_rank(), dist.get_world_size()
    dst = size - 1
    out = [dg.zeros((2, 3)) for _ in range(size)] if rank == dst else None
    assert dist.gather(dg.from_numpy(values(rank)), out, dst=dst) is None
    if rank == dst:
        for r, t in enumerate(out):
            np.testing.assert_array_equal(t.numpy(), values(r))


def test_scatter_gives_each_rank_its_entry():
    rank, size = dist.get_rank(), dist.get_world_size()
    src = 1
    parts = [dg.from_numpy(values(r)) for r in range(size)] if rank == src else None
    mine = dg.zeros((2, 3))
    dist.scatter(mine, parts, src=src)
    np.testing.assert_array_equal(mine.numpy(), values(rank))


def test_gather_object_on_dst():
    rank, size = dist.get_rank(), dist.get_world_size()
    out = [None] * size if rank == 0 else None
    dist.gather_object({"rank": rank}, out, dst=0)
    if rank == 0:
        assert out == [{"rank": r} for r in range(size)]


def test_messages_around_a_ring():
    rank, size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % size, (rank - 1) % size
    outgoing = dg.from_numpy(values(rank, (1000,)))  # 4 KB: larger than one eager packet
    work = dist.isend(outgoing, right, tag=5)
    incoming = dg.zeros(1000)
    assert dist.recv(incoming, src=left, tag=5) == left
    work.wait()
    np.testing.assert_array_equal(incoming.numpy(), values(left, (1000,)))


def test_recv_from_any_rank_tells_the_sender():
    rank, size = dist.get_rank(), dist.get_world_size()
    if rank == 0:
        senders = set()
        for _ in range(size - 1):
            box = dg.zeros(1, dtype=dg.int64)
            sender = dist.recv(box)
            assert box.tolist() == [sender * 10]
            senders.add(sender)
        assert senders == set(range(1, size))
    else:
        dist.send(dg.tensor([rank * 10]), dst=0)


def test_bad_arguments_raise_on_the_rank_that_passed_them():
    rank, size = dist.get_rank(), dist.get_world_size()
    with pytest.raises(ValueError, match=rf"\[rank {rank}/{size} .*send: dst={rank} is this rank"):
        dist.send(dg.zeros(1), dst=rank)
    with pytest.raises(ValueError, match="dst=7 is not a rank"):
        dist.reduce(dg.zeros(1), dst=7)
    with pytest.raises(ValueError, match="tag must be a non-negative integer"):
        dist.isend(dg.zeros(1), dst=(rank + 1) % size, tag=-1)
    with pytest.raises(ValueError, match="only rank 0 may pass one" if rank else "needs gather_list"):
        dist.gather(dg.zeros(1), [dg.zeros(1)] if rank else None, dst=0)


def test_the_naive_reference_communicator_agrees():
    from distgrad.world.comm.naive import NaiveCommunicator
    naive, fast = NaiveCommunicator(), dist.communicator()
    rank = naive.rank
    for comm in (naive, fast):
        reduced = values(rank).copy()
        comm.ireduce(reduced, 1, "max").wait()
        np.testing.assert_array_equal(reduced, np.max(everyone(), axis=0) if rank == 1 else values(rank))
        rows = comm.igather(values(rank), 0).wait()
        assert (rows is None) == (rank != 0)
        if rank == 0:
            np.testing.assert_array_equal(rows, np.stack(everyone()))
        block = np.zeros((2, 3), np.float32)
        comm.iscatter(block, np.stack(everyone()) if rank == 0 else None, 0).wait()
        np.testing.assert_array_equal(block, values(rank))
        box = np.zeros(3, np.float32)
        if rank == 0:
            comm.isend(np.arange(3, dtype=np.float32), 1, tag=3).wait()
        elif rank == 1:
            assert comm.irecv(box, None, tag=3).wait() == 0
            np.testing.assert_array_equal(box, np.arange(3))
