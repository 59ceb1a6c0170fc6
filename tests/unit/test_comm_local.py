"""The world-of-one communicator and the pure helpers behind the communicators."""
import numpy as np
import pytest

from distgrad.world.comm import debug
from distgrad.world.comm.base import Work
from distgrad.world.comm.factory import resolve_backend
from distgrad.world.comm.local import LocalCommunicator
from distgrad.world.comm.topology import Topology, choose_gpu, launched_under_mpi
from distgrad.world.comm.waiting import stall_seconds_from_env
from distgrad.world.failure import failure_report
from distgrad.distributed.model_check import describe_model_mismatch, model_fingerprint


@pytest.fixture
def comm():
    return LocalCommunicator()


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_allreduce_is_the_identity_in_place(comm, op):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    before = a.copy()
    work = comm.iallreduce(a, op)
    assert work.is_completed()
    assert work.wait() is None
    np.testing.assert_array_equal(a, before)


def test_mean_of_integers_is_refused_naming_the_rank(comm):
    with pytest.raises(RuntimeError, match=r"\[rank 0/1 .*\] all_reduce\(op='mean'\) needs a floating"):
        comm.allreduce(np.arange(3), "mean")


def test_broadcast_allgather_reduce_scatter(comm):
    a = np.array([1.0, 2.0])
    comm.broadcast(a, 0)
    np.testing.assert_array_equal(a, [1.0, 2.0])
    gathered = comm.allgather(a)
    assert gathered.shape == (1, 2)
    gathered[0, 0] = 9.0  # a copy: the input is untouched
    assert a[0] == 1.0
    np.testing.assert_array_equal(comm.reduce_scatter(np.arange(4.0)), np.arange(4.0))
    comm.barrier()


def test_reduce_scatter_needs_a_splittable_first_dimension(comm):
    with pytest.raises(RuntimeError, match="does not split into 1 equal blocks"):
        comm.reduce_scatter(np.float32(1.0).reshape(()))


def test_objects_come_back_as_copies(comm):
    obj = {"a": [1, 2]}
    assert comm.broadcast_object(obj, 0) is obj
    gathered = comm.allgather_object(obj)
    assert gathered == [obj] and gathered[0] is not obj


def test_work_then_chains_results():
    calls = []
    done = [False]
    work = Work(lambda: done[0], lambda: "result")
    work.then(lambda r: calls.append(r))
    assert not work.is_completed() and calls == []
    done[0] = True
    assert work.wait() == "result" and calls == ["result"]
    assert Work.completed(3).then(lambda r: r + 1).wait() == 4


def test_backend_resolution():
    assert resolve_backend("auto", {}) == "local"
    assert resolve_backend("auto", {"PMI_RANK": "0", "PMI_SIZE": "2"}) == "mpi"
    assert resolve_backend("auto", {"OMPI_COMM_WORLD_SIZE": "4"}) == "mpi"
    assert resolve_backend(None, {}) == "local"
    assert resolve_backend("NCCL") == "nccl"
    with pytest.raises(ValueError, match=r"\[rank 0/1 \S+\] unknown distributed backend 'gloo2'"):
        resolve_backend("gloo2")
    assert launched_under_mpi({"PMIX_RANK": "0"})
    assert not launched_under_mpi({"HOME": "/root"})


def test_gpu_choice_follows_the_local_rank():
    topo = Topology(rank=5, size=8, local_rank=1, local_size=4, host="h")
    assert choose_gpu(topo, 0) == (None, None)
    assert choose_gpu(topo, 4) == (1, None)
    with pytest.raises(RuntimeError, match=r"\[rank 5/8 h\] 4 ranks run on host h but it has 2 visible"):
        choose_gpu(topo, 2)
    index, warning = choose_gpu(Topology(3, 8, 3, 4, "h"), 2, allow_sharing=True)
    assert index == 1 and "share GPUs" in warning


def test_stall_threshold_from_environment():
    assert stall_seconds_from_env({}) == 60
    assert stall_seconds_from_env({"DISTGRAD_STALL_WARNING_SECONDS": "1.5"}) == 1.5
    with pytest.raises(ValueError, match="positive"):
        stall_seconds_from_env({"DISTGRAD_STALL_WARNING_SECONDS": "0"})
    with pytest.raises(ValueError, match="number of seconds"):
        stall_seconds_from_env({"DISTGRAD_STALL_WARNING_SECONDS": "soon"})


def test_debug_fingerprints_name_what_differs():
    a = debug.fingerprint("all_reduce", np.zeros(3, np.float32), op="sum")
    b = debug.fingerprint("all_reduce", np.zeros(4, np.float32), op="sum")
    c = debug.fingerprint("broadcast", np.zeros(3, np.float64), root=1)
    assert debug.mismatch_message(7, [a, a]) is None
    message = debug.mismatch_message(7, [a, b, a])
    assert "collective #7" in message and "shape differs: ranks 0, 2 have (3,); rank 1 has (4,)" in message
    message = debug.mismatch_message(2, [a, c])
    assert "collective differs: rank 0 has all_reduce; rank 1 has broadcast" in message
    assert "dtype differs: rank 0 has float32; rank 1 has float64" in message
    assert debug.decode(debug.encode(a)) == a


def test_model_mismatch_is_described():
    class P:
        def __init__(self, shape, dtype="float32", requires_grad=True):
            self.shape, self.dtype, self.requires_grad = shape, dtype, requires_grad

    base = model_fingerprint([("fc.weight", P((3, 4))), ("fc.bias", P((3,)))], [("bn.mean", P((3,)))])
    wider = model_fingerprint([("fc.weight", P((5, 4))), ("fc.bias", P((3,)))], [("bn.mean", P((3,)))])
    extra = model_fingerprint([("fc.weight", P((3, 4))), ("fc.bias", P((3,))), ("head.w", P((2,)))],
                              [("bn.mean", P((3,)))])
    swapped = [base[1], base[0], base[2]]
    assert describe_model_mismatch([base, base]) is None
    assert "parameter 'fc.weight' has shape (3, 4) on rank 0 but (5, 4) on rank 1" in \
        describe_model_mismatch([base, wider])
    assert "rank 2 has an extra parameter 'head.w'" in describe_model_mismatch([base, base, extra])
    assert "rank 1 has no buffer 'bn.mean'" in describe_model_mismatch([base, base[:2]])
    assert "another order" in describe_model_mismatch([base, swapped])


def test_failure_report_prefixes_every_line():
    try:
        raise ValueError("bad batch")
    except ValueError as exc:
        text = failure_report("[rank 1/2 node7]", type(exc), exc, exc.__traceback__)
    lines = text.splitlines()
    assert all(line.startswith("[rank 1/2 node7] ") for line in lines)
    assert "ValueError: bad batch" in text and "aborting all ranks" in lines[-1]
