"""Timing loops that every rank runs in lockstep (same iteration counts, slowest rank's time).

A process group here is anything with ``barrier()`` and ``max(value)``: MpiGroup wraps an
mpi4py communicator, ddp.py's TorchGroup wraps torch.distributed. Local per-rank timing
(common.best_ms) would let ranks pick different iteration counts and deadlock.
"""
import time


class MpiGroup:
    def __init__(self, comm=None):
        from mpi4py import MPI
        self.comm = comm or MPI.COMM_WORLD
        self._max = MPI.MAX
        self.rank, self.size = self.comm.rank, self.comm.size

    def barrier(self):
        self.comm.Barrier()

    def max(self, value):
        return self.comm.allreduce(value, op=self._max)


def iterations_for(group, call, budget_s, limit=2000):
    """Calls per round so a round lasts about ``budget_s``; agreed by all ranks."""
    call()
    group.barrier()
    start = time.perf_counter()
    call()
    once = group.max(time.perf_counter() - start)
    return max(1, min(limit, int(budget_s / max(once, 1e-7))))


def timed_round(group, call, iters, sync=None):
    """Mean seconds per call over ``iters`` calls, as seen by the slowest rank."""
    group.barrier()
    start = time.perf_counter()
    for _ in range(iters):
        call()
    if sync is not None:
        sync()
    return group.max((time.perf_counter() - start) / iters)


def compare(group, calls, rounds, budget_s, syncs=None, warmup=0):
    """Seconds per call of each named call: the best round ("seconds": other programs on the
    machine only ever add time) and the median round. Rounds are interleaved, with the order
    alternating, so that slow phases of a noisy machine hit every variant alike."""
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    iters = {name: iterations_for(group, calls[name], budget_s) for name in names}
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(timed_round(group, calls[name], iters[name], (syncs or {}).get(name)))
    out = {}
    for name in names:
        ordered = sorted(times[name])
        out[name] = {"seconds": ordered[0], "median_seconds": ordered[len(ordered) // 2],
                     "iters": iters[name], "rounds": rounds}
    return out
