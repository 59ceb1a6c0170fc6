"""Every collective travels through the verified paths (world/comm/verify.py): small ones
inside the slot exchange, larger ones after it. Both must give what the naive reference
communicator gives, on each side of the inline limit, for 0-d, empty and odd dtypes; and a
mismatch must raise on every rank (the job-level cases are tests/reliability's
test_collective_verification.py)."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.world.comm.bfloat16 import float32_to_bfloat16_bits
from distgrad.world.comm.naive import NaiveCommunicator
from distgrad.world.comm.verify import INLINE_BYTES

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]

# float32 element counts: empty, one, the most that fits in a slot, one more, many
COUNTS = [0, 1, INLINE_BYTES // 4, INLINE_BYTES // 4 + 1, 3000]


@pytest.fixture(scope="module")
def naive():
    return NaiveCommunicator()


def comm():
    return dist.communicator()


def data(count, dtype="float32", salt=0):
    rng = np.random.default_rng(100 * dist.get_rank() + salt)
    return rng.integers(-9, 9, count).astype(dtype)


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("op", ["sum", "max", "min"])
def test_all_reduce_blocking_and_async_on_both_sides_of_the_inline_limit(naive, count, op):
    x = data(count)
    blocking = comm().allreduce(x.copy(), op)
    async_one, async_two = x.copy(), x.copy() * 2
    first, second = comm().iallreduce(async_one, op), comm().iallreduce(async_two, op)  # same shape in flight
    second.wait()
    first.wait()
    np.testing.assert_array_equal(blocking, naive.allreduce(x.copy(), op))
    np.testing.assert_array_equal(async_one, blocking)
    np.testing.assert_array_equal(async_two, naive.allreduce(x.copy() * 2, op))


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "int64", "float16", "float64"])
def test_all_reduce_of_small_arrays_of_every_dtype_and_a_0d_tensor(naive, dtype):
    x = data(5, dtype)
    rows = naive.allgather(x)  # MPI itself reduces no bools: the expected values from NumPy
    np.testing.assert_array_equal(comm().allreduce(x.copy(), "max"), rows.max(axis=0))
    np.testing.assert_array_equal(comm().allreduce(x.copy(), "sum"), rows.sum(axis=0, dtype=x.dtype))
    scalar = dg.tensor(float(dist.get_rank() + 1))
    dist.all_reduce(scalar)
    assert scalar.item() == sum(range(1, dist.get_world_size() + 1))


def test_bfloat16_sums_inside_the_slot(naive):
    bits = float32_to_bfloat16_bits(data(8).astype(np.float32) / 4)
    fast = comm().allreduce(bits.copy(), "sum", element="bfloat16")
    np.testing.assert_array_equal(fast, naive.allreduce(bits.copy(), "sum", element="bfloat16"))


@pytest.mark.parametrize("count", COUNTS)
def test_broadcast_gather_scatter_reduce_and_reduce_scatter_as_the_reference(naive, count):
    c, n, rank = comm(), dist.get_world_size(), dist.get_rank()
    x = data(count, salt=1)
    np.testing.assert_array_equal(c.broadcast(x.copy(), 1), naive.broadcast(x.copy(), 1))
    rows = naive.allgather(x)
    np.testing.assert_array_equal(c.allgather(x), rows)
    gathered = c.igather(x, 0).wait()
    if rank == 0:
        np.testing.assert_array_equal(gathered, rows)
    reduced, total = x.copy(), naive.allreduce(x.copy(), "sum")
    c.ireduce(reduced, 0, "sum").wait()
    np.testing.assert_array_equal(reduced, total if rank == 0 else x)
    blocks = data(count * n, salt=2).reshape(n, count)
    np.testing.assert_array_equal(c.reduce_scatter(blocks.copy(), "sum"), naive.reduce_scatter(blocks.copy(), "sum"))
    out = np.zeros(count, np.float32)
    c.iscatter(out, blocks if rank == 0 else None, 0).wait()
    np.testing.assert_array_equal(out, naive.broadcast(blocks.copy(), 0)[rank])


def test_a_mismatch_raises_on_every_rank_and_the_next_collective_still_pairs():
    c, rank = comm(), dist.get_rank()
    with pytest.raises(RuntimeError, match=r"collective #\d+ does not match across ranks: shape differs: "
                                           r"rank 0 has \(3,\); ranks? 1(, 2)? ha(s|ve) \(4,\)"):
        c.allreduce(np.ones(3 + min(rank, 1), np.float32))
    with pytest.raises(RuntimeError, match=r"rank 0: broadcast\(root=0\) of float32 \(2,\); rank 1: barrier"):
        if rank == 1:
            c.barrier()
        else:
            c.broadcast(np.ones(2, np.float32), 0)
    assert c.allreduce(np.ones(1, np.float32))[0] == dist.get_world_size()


def test_larger_transfers_start_in_call_order_whatever_order_they_are_waited_in(naive):
    c, rank = comm(), dist.get_rank()
    x, y = data(5000, salt=3), data(7000, salt=4)
    expected_x, expected_y = naive.allreduce(x.copy(), "sum"), naive.allreduce(y.copy(), "sum")
    first, second = c.iallreduce(x, "sum"), c.iallreduce(y, "sum")
    if rank == 0:
        first.is_completed()  # may start the first transfer here and not on the other ranks
    second.wait()
    first.wait()
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)
    # one rank waits in the larger collective, the others already in the next, small one:
    # their wait must start the larger transfer, or rank 0 never reaches the small one
    z, expected_z = data(5000, salt=5), naive.allreduce(data(5000, salt=5), "sum")
    work = c.iallreduce(z, "sum")
    if rank == 0:
        work.wait()
        small = c.allreduce(np.ones(1, np.float32))
    else:
        small = c.allreduce(np.ones(1, np.float32))
        work.wait()
    np.testing.assert_array_equal(z, expected_z)
    assert small[0] == dist.get_world_size()


def test_a_blocking_all_reduce_while_one_of_the_same_shape_is_in_flight_stays_inline_everywhere(naive):
    c, rank = comm(), dist.get_rank()
    x, y = data(3, salt=6), data(3, salt=7)
    expected_x, expected_y = naive.allreduce(x.copy(), "sum"), naive.allreduce(y.copy(), "sum")
    work = c.iallreduce(x, "sum")
    if rank == 0:
        work.wait()  # rank 0's slots are free again, the others' still taken
    c.allreduce(y, "sum")
    work.wait()
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)
