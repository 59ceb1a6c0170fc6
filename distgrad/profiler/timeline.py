"""A job's timeline: every rank's ops, record_function ranges and collectives (each
all-reduce from its start to its completion, and the time spent blocked in waits) in one
Chrome trace, one row group per rank, written by rank 0.

    with distgrad.profiler.timeline("trace.json"):
        for step in range(5):
            ...  # forward, backward (DDP all-reduces buckets meanwhile), optimizer step

Collectives, optimizer steps, data loading and checkpoint writes are timed by methods swapped
in while the timeline records (patches.py), as ops are (hooks.py). ``DISTGRAD_TIMELINE`` (or
``distgrad-run --timeline``) records a whole run instead (run_timeline.py).
On a failure inside the block, each rank writes its own ``<path>.rank<r>.json`` up to the
failure (no collective is attempted then: a peer may be gone).
"""
import contextlib
from time import perf_counter_ns

from . import patches, run_timeline
from .profile import profile
from .trace import chrome_trace, write_chrome_trace, write_merged


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
    if run_timeline.recording() is not None:  # DISTGRAD_TIMELINE records all of it already
        yield run_timeline.recording().prof
        return
    if comm is None:
        from ..world.state import communicator
        comm = communicator()
    offset = clock_offset(comm)
    prof = profile(**profile_options)
    patches.install()
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
        patches.uninstall()
    traces = comm.allgather_object(chrome_trace(prof.events(), rank=comm.rank, offset_ns=offset))
    if comm.rank == 0:
        write_merged(traces, path)
