"""A job's timeline: every rank's ops, record_function ranges and collectives (each
all-reduce from its start to its completion, and the time spent blocked in waits) in one
Chrome trace, one row group per rank, written by rank 0.

    with distgrad.profiler.timeline("trace.json"):
        for step in range(5):
            ...  # forward, backward (DDP all-reduces buckets meanwhile), optimizer step

Collectives are timed by wrapping the communicator's ``iallreduce`` and ``Work.wait`` while
the timeline records, as ops are (hooks.py): nothing is added to the communication code.
On a failure inside the block, each rank writes its own ``<path>.rank<r>.json`` up to the
failure (no collective is attempted then: a peer may be gone).
"""
import contextlib
from time import perf_counter_ns

from . import hooks
from ..autograd.engine import current_backward
from .profile import profile
from .trace import chrome_trace, write_chrome_trace, write_merged

_plain = {}  # the communicator's methods while a timeline records, to put back
_backward_calls = [None, 0]  # [the backward pass, all-reduces started in it so far]


def _timed_iallreduce(comm, array, op="sum", element=None):
    recorder = hooks.current()
    if recorder is None:
        return _plain["iallreduce"](comm, array, op, element)
    running = current_backward()
    if running is not _backward_calls[0]:
        _backward_calls[:] = [running, 0]
    args = {"bytes": int(array.nbytes), "op": op}
    if running is not None:  # DDP starts its buckets in order during backward: which one this is
        args["nth_in_backward"] = _backward_calls[1]
        _backward_calls[1] += 1
    start = perf_counter_ns()
    work = _plain["iallreduce"](comm, array, op, element)
    work.then(lambda _: recorder.span("all_reduce", "communication", start, perf_counter_ns(), args))
    return work


def _timed_wait(work):
    recorder = hooks.current()
    if recorder is None or work.is_completed():
        return _plain["wait"](work)
    start = perf_counter_ns()
    try:
        return _plain["wait"](work)
    finally:
        recorder.span("wait", "communication wait", start, perf_counter_ns(),
                      {"what": str(work.what)} if work.what else None)


def _install():
    from ..world.comm.base import Communicator, Work
    _plain.update(iallreduce=Communicator.iallreduce, wait=Work.wait)
    Communicator.iallreduce = _timed_iallreduce
    Work.wait = _timed_wait


def _uninstall():
    from ..world.comm.base import Communicator, Work
    if _plain:
        Communicator.iallreduce, Work.wait = _plain.pop("iallreduce"), _plain.pop("wait")


def clock_offset(comm):
    """Nanoseconds this rank's clock runs ahead of rank 0's. Zero on rank 0's host (one
    monotonic clock for all its processes); elsewhere read once right after a barrier, so
    good to the barrier's exit skew (tens of microseconds)."""
    hosts = comm.allgather_object(comm.host)
    comm.barrier()
    times = comm.allgather_object(perf_counter_ns())
    return 0 if hosts[comm.rank] == hosts[0] else times[comm.rank] - times[0]


@contextlib.contextmanager
def timeline(path, comm=None, **profile_options):
    """Record the block on every rank (all ranks enter it); rank 0 writes the merged trace to
    ``path``. ``profile_options`` go to ``profile`` (record_shapes, with_stack, ...)."""
    if comm is None:
        from ..world.state import communicator
        comm = communicator()
    offset = clock_offset(comm)
    prof = profile(**profile_options)
    _install()
    try:
        prof.start()
        try:
            yield prof
        finally:
            prof.stop()
    except BaseException:
        if prof._finished is not None:  # this rank's events up to the failure
            write_chrome_trace(prof.events(), f"{path}.rank{comm.rank}.json")
        raise
    finally:
        _uninstall()
    traces = comm.allgather_object(chrome_trace(prof.events(), rank=comm.rank, offset_ns=offset))
    if comm.rank == 0:
        write_merged(traces, path)
