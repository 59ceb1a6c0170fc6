"""A two-rank sum of one number is added in Python (verify.py's _ScalarSum), not by NumPy:
its result must carry NumPy's bits, rank 0's number first, on the blocking and the Work path,
at the edges (rounding to infinity, integers that wrap, NaN, signed zeros, subnormals)."""
import warnings

import numpy as np
import pytest

import distgrad.distributed as dist

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


def edge_values(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        info = np.finfo(dtype)
        return np.array([1.5, -2.25, 1 / 3, info.max, info.max, np.inf, -np.inf, np.nan, -0.0, 0.0, info.tiny,
                         info.smallest_subnormal, info.eps], dtype)
    info = np.iinfo(dtype)
    return np.array([info.max, info.min, 1, 0, info.max // 2 + 1, info.max], dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "uint64"])
@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
def test_one_number_sums_as_numpy_does(dtype, shape):
    comm = dist.communicator()
    values = edge_values(dtype)
    rank, size = comm.rank, comm.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow warnings, where a sum wraps or overflows
        for k in range(len(values)):
            numbers = [values[(k + 5 * r) % len(values)] for r in range(size)]
            want = numbers[0]
            for number in numbers[1:]:
                want = np.add(want, number)  # in rank order, as the verified path reduces
            blocking = np.full(shape, numbers[rank], values.dtype)
            comm.allreduce(blocking)
            in_flight = np.full(shape, numbers[rank], values.dtype)
            comm.iallreduce(in_flight).wait()
            for got in (blocking, in_flight):
                assert got.tobytes() == np.full(shape, want, values.dtype).tobytes(), (numbers, got, want)


def test_a_read_only_number_is_refused_as_numpy_refuses_it():
    comm = dist.communicator()
    number = np.ones(1, np.float32)
    number.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        comm.allreduce(number)
