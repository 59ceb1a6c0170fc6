"""The timeline of a whole run: ``DISTGRAD_TIMELINE=trace.json`` (what ``distgrad-run
--timeline trace.json`` sets for every rank) records each rank from ``import distgrad`` on:
forward and backward passes, collectives, each DDP bucket's gradients-ready mark, optimizer
steps, data loading, checkpoint writes, stalls (patches.py); every op too with
``DISTGRAD_TIMELINE_OPS=1`` (about 1 us an op, so not by default).

Rank 0 writes the merged trace when the distributed world ends (at exit, through the world's
failure module, while the other ranks can still send their events). A rank that fails writes
its own ``<path>.rank<r>.json`` up to the failure before the job is aborted: no collective is
attempted then, as a peer may be gone. A run that never started a world of several ranks
writes at exit (``<path>`` on rank 0 alone, ``<path>.rank<r>.json`` otherwise).
"""
import atexit
import os

from . import patches
from .profile import profile
from .trace import chrome_trace, write_chrome_trace, write_merged

ENV = "DISTGRAD_TIMELINE"
OPS_ENV = "DISTGRAD_TIMELINE_OPS"  # "1": every op forward and backward too
_current = [None]  # the RunTimeline recording now


def recording():
    """The run's timeline while it records, else None."""
    return _current[0]


class RunTimeline:
    """Records from ``start()`` to ``stop()``; written once: by ``finish()`` (collective when
    the world runs on several ranks), when the world ends, when this rank fails, or at exit."""

    def __init__(self, path, ops=False):
        self.path = path
        self.prof = profile()
        self.prof._time_ops = ops  # every op forward and backward: about 1 us each, so asked for
        self.comm, self.offset = None, 0
        self.finished = False

    def start(self):
        from ..world import failure, state  # the world tells its start, end and failure through it
        if state.is_initialized() and state.communicator().size > 1:  # started after the world
            self.world_started(state.communicator())
        patches.install()
        self.prof.start()
        _current[0] = self
        failure.world_hooks.append(self)
        atexit.register(self.at_exit)
        return self

    def stop(self):
        """Stop recording (the events stay in ``self.prof`` until written)."""
        if _current[0] is self:
            _current[0] = None
            self.prof.stop()
            patches.uninstall()

    def finish(self):
        """Stop and write: every rank's trace merged by rank 0 (a collective: every rank calls
        it) once the world runs on several ranks, else this process's alone."""
        if self.finished:
            return
        if self.comm is None:
            self._write_alone()
            return
        self._end()
        traces = self.comm.allgather_object(chrome_trace(self.prof.events(), rank=self.comm.rank,
                                                         offset_ns=self.offset))
        if self.comm.rank == 0:
            write_merged(traces, self.path)

    def discard(self):
        """Stop without writing."""
        self._end()

    # -- what the world tells --------------------------------------------------------------
    def world_started(self, comm):
        from .timeline import clock_offset
        self.comm, self.offset = comm, clock_offset(comm)

    def world_ending(self):
        """Every rank, the world ending normally (its communicator still works)."""
        if self.comm is not None:
            self.finish()

    def failed(self):
        """This rank fails: its own trace up to now, before the job is aborted."""
        if not self.finished:
            self._write_alone()

    def at_exit(self):
        if not self.finished:
            self._write_alone()

    def _end(self):
        from ..world import failure
        self.finished = True
        self.stop()
        if self in failure.world_hooks:
            failure.world_hooks.remove(self)

    def _write_alone(self):
        self._end()
        rank, size = (self.comm.rank, self.comm.size) if self.comm is not None else _launched()
        path = self.path if size == 1 else f"{self.path}.rank{rank}.json"
        write_chrome_trace(self.prof.events(), path, rank=rank)


def _launched():
    from ..utils.ranks import launched_rank_and_size
    launched = launched_rank_and_size()
    return launched if launched else (0, 1)


def start_if_asked(environ=None):
    """Start the run's timeline when ``DISTGRAD_TIMELINE`` names a path (once per process)."""
    environ = os.environ if environ is None else environ
    path = environ.get(ENV)
    if path and _current[0] is None:
        return RunTimeline(path, ops=environ.get(OPS_ENV, "0") not in ("", "0")).start()
    return None


def discard():
    """Stop the run's timeline without writing (distgrad-run itself: its ranks record)."""
    if _current[0] is not None:
        _current[0].discard()
