"""One rank fails, the whole job ends: an uncaught exception on any rank prints its
traceback, every line prefixed with ``[rank r/N host]``, and aborts all ranks (MPI_Abort),
instead of leaving the others waiting forever in their next collective.
"""
import sys
import traceback

from . import liveness

# Told of the world's life: ``world_started(comm)`` once it runs on several ranks,
# ``world_ending()`` when it ends normally (the communicator still works), ``failed()`` on an
# uncaught exception before the abort. distgrad.profiler's run timeline listens here.
world_hooks = []


def failure_report(prefix, kind, value, tb, how="MPI_Abort"):
    """The text written to stderr for an uncaught exception on this rank (``how``: the way the
    job is ended)."""
    lines = traceback.format_exception(kind, value, tb)
    text = "".join(f"{prefix} {line}" for line in "".join(lines).splitlines(True))
    return text + f"{prefix} {kind.__name__} on this rank: aborting all ranks ({how})\n"


def install(comm):
    """Make uncaught exceptions abort the job through ``comm`` (idempotent)."""
    for hook in list(world_hooks):
        hook.world_started(comm)
    current = sys.excepthook
    if getattr(current, "distgrad_comm", None) is not None:
        current.distgrad_comm = comm
        return

    def excepthook(kind, value, tb):
        try:
            sys.stderr.write(failure_report(excepthook.distgrad_comm.prefix, kind, value, tb))
            sys.stderr.flush()
            sys.stdout.flush()
            liveness.announce_abort()  # peers: this rank's end is an abort, not a lost process
            for hook in list(world_hooks):
                hook.failed()
        finally:
            excepthook.distgrad_comm.abort(1)

    excepthook.distgrad_comm = comm
    excepthook.distgrad_previous = current
    sys.excepthook = excepthook


def uninstall():
    for hook in list(world_hooks):
        hook.world_ending()
    current = sys.excepthook
    if getattr(current, "distgrad_comm", None) is not None:
        sys.excepthook = current.distgrad_previous
