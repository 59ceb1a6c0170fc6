"""Collectives of the MPI communicator (and the Tensor API over it) against the naive
reference communicator: one blocking MPI call per array, the obvious way."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.world.comm.mpi import MPICommunicator
from distgrad.world.comm.naive import NaiveCommunicator
from distgrad.world.comm.bfloat16 import bfloat16_bits_to_float32, float32_to_bfloat16_bits

# every test here: under mpiexec with at least 2 ranks, failed (not hung) after 60 s
pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]

ALL_REDUCE_CASES = [(op, dtype, shape) for op in ("sum", "mean", "max", "min")
                    for dtype in ("float32", "float64", "int64") for shape in ((7,), (3, 5), (1,))
                    if not (op == "mean" and dtype == "int64")]  # mean is for floats (see tests/unit)


@pytest.fixture(scope="module")
def naive():
    return NaiveCommunicator()


def rank_data(shape, dtype, salt=0):
    """Different values on every rank (integers stay small so sums are exact)."""
    rng = np.random.default_rng(1000 * dist.get_rank() + salt)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-50, 50, shape).astype(dtype)


@pytest.mark.parametrize("op,dtype,shape", ALL_REDUCE_CASES)
def test_all_reduce(naive, op, dtype, shape):
    data = rank_data(shape, dtype)
    t = dg.from_numpy(data.copy())
    dist.all_reduce(t, op=op)
    expected = naive.allreduce(data.copy(), op)
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)


def test_all_reduce_accepts_enum_ops_and_non_contiguous_tensors(naive):
    data = rank_data((4, 6), "float32")
    t = dg.from_numpy(data.copy()).T
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    np.testing.assert_array_equal(t.numpy(), naive.allreduce(data.copy(), "max").T)


def test_bfloat16_sum_matches_the_reference_within_rounding(naive):
    values = rank_data(1000, "float32")
    bits = float32_to_bfloat16_bits(values)
    fast = bfloat16_bits_to_float32(dist.communicator().allreduce(bits.copy(), "sum", element="bfloat16"))
    slow = bfloat16_bits_to_float32(naive.allreduce(bits.copy(), "sum", element="bfloat16"))
    # rounding after each addition in the network vs once at the end: each rounding errs by
    # at most 2**-8 of the partial sum, which is at most the sum of magnitudes
    magnitudes = naive.allreduce(np.abs(values), "sum")
    n = dist.get_world_size()
    assert (np.abs(fast - slow) <= n * 2.0 ** -8 * magnitudes).all()
    assert np.abs(fast - naive.allreduce(values.copy(), "sum")).max() > 0  # really bfloat16


@pytest.mark.parametrize("src", [0, 1])
def test_broadcast(naive, src):
    data = rank_data((3, 4), "float64")
    t = dg.from_numpy(data.copy())
    dist.broadcast(t, src=src)
    np.testing.assert_array_equal(t.numpy(), naive.broadcast(data.copy(), src))
    assert same_everywhere(t.numpy())


def test_all_gather_returns_and_fills_lists(naive):
    data = rank_data((2, 3), "float32")
    expected = naive.allgather(data)
    got = dist.all_gather(dg.from_numpy(data))
    assert len(got) == dist.get_world_size()
    for r, t in enumerate(got):
        np.testing.assert_array_equal(t.numpy(), expected[r])
    outputs = [dg.zeros(2, 3) for _ in range(dist.get_world_size())]
    dist.all_gather(outputs, dg.from_numpy(data))
    for r, t in enumerate(outputs):
        np.testing.assert_array_equal(t.numpy(), expected[r])
    into = dg.zeros(2 * dist.get_world_size(), 3)
    dist.all_gather_into_tensor(into, dg.from_numpy(data))
    np.testing.assert_array_equal(into.numpy(), expected.reshape(-1, 3))


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reduce_scatter_forms(naive, op):
    n = dist.get_world_size()
    data = rank_data((2 * n, 3), "float64")
    expected = naive.reduce_scatter(data.copy(), op)
    np.testing.assert_allclose(dist.reduce_scatter(dg.from_numpy(data.copy()), op=op).numpy(), expected)
    output = dg.zeros(2, 3, dtype=dg.float64)
    dist.reduce_scatter(output, [dg.from_numpy(block) for block in np.split(data, n)], op=op)
    np.testing.assert_allclose(output.numpy(), expected)
    out_tensor = dg.zeros(2, 3, dtype=dg.float64)
    dist.reduce_scatter_tensor(out_tensor, dg.from_numpy(data.copy()), op=op)
    np.testing.assert_allclose(out_tensor.numpy(), expected)


def test_non_blocking_handles():
    n = dist.get_world_size()
    tensors = [dg.full((1000,), float(dist.get_rank() + i)) for i in range(5)]
    works = [dist.all_reduce(t, async_op=True) for t in tensors]
    ones = dg.ones(3)
    works.append(dist.iall_reduce(ones))
    gather = dist.iall_gather(dg.tensor([dist.get_rank()]))
    for i, (t, w) in enumerate(zip(tensors, works)):
        w.wait()
        assert w.is_completed()
        assert t.tolist() == [float(sum(range(n)) + n * i)] * 1000
    assert [t.item() for t in gather.wait()] == list(range(n))
    works[-1].wait()
    assert ones.tolist() == [float(n)] * 3
    block = dist.ireduce_scatter(dg.ones(n * 2)).wait()
    assert block.tolist() == [float(n)] * 2
    dist.ibroadcast(dg.ones(2), src=0).wait()
    dist.barrier(async_op=True).wait()


def test_objects():
    rank, n = dist.get_rank(), dist.get_world_size()
    assert dist.broadcast_object({"from": rank, "data": list(range(rank + 3))}, src=1) == \
        {"from": 1, "data": [0, 1, 2, 3]}
    assert dist.all_gather_object(("rank", rank, "x" * rank)) == [("rank", r, "x" * r) for r in range(n)]
    objects = [None] * n
    dist.all_gather_object(objects, rank * 2)
    assert objects == [2 * r for r in range(n)]
    box = [rank, "mine"]
    dist.broadcast_object_list(box, src=n - 1)
    assert box == [n - 1, "mine"]


def test_debug_mode_refuses_mismatched_collectives_on_every_rank():
    from mpi4py import MPI
    checked = MPICommunicator(MPI.COMM_WORLD.Dup(), debug_checks=True)
    rank = checked.rank
    checked.allreduce(np.ones(3, np.float32))  # matching: fine
    with pytest.raises(RuntimeError, match=r"\[rank %d/\d .*\] DISTGRAD_DEBUG: collective #2 does not match "
                                           r"across ranks: shape differs: rank 0 has \(3,\); " % rank):
        checked.allreduce(np.ones(3 + min(rank, 1), np.float32))
    root = 1 if rank == 1 else 0
    with pytest.raises(RuntimeError, match="root differs"):
        checked.broadcast(np.ones(2), root)
    with pytest.raises(RuntimeError, match=r"collective differs: ranks? 0(, 2)? ha(s|ve) all_reduce; rank 1 has "
                                           "barrier"):
        checked.barrier() if rank == 1 else checked.allreduce(np.ones(2))
    checked.barrier()  # the world is still usable: nothing was started


def same_everywhere(array):
    gathered = dist.all_gather_object(array.tobytes())
    return all(g == gathered[0] for g in gathered)
