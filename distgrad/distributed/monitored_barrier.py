"""``monitored_barrier``: torch.distributed's barrier that names the ranks that did not arrive
within ``timeout`` instead of waiting on. It asks every rank where it is, as the stall warning
does (world/comm/waiting.py), and raises with that answer: a rank that ended, one waiting in an
earlier collective, one busy computing."""
import datetime
import time

from ..world.groups import group_communicator

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # PyTorch's default process-group timeout


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """Every rank waits here for the others, at most ``timeout`` (a timedelta or seconds);
    past it, a RuntimeError names every rank that has not arrived and where it is (PyTorch names
    only the first unless ``wait_all_ranks``; naming all costs nothing more here)."""
    comm = group_communicator(group, "monitored_barrier")
    seconds = (timeout or DEFAULT_TIMEOUT)
    seconds = seconds.total_seconds() if isinstance(seconds, datetime.timedelta) else float(seconds)
    if seconds <= 0:
        raise ValueError(f"monitored_barrier: timeout must be positive, got {timeout!r}")
    work = comm.ibarrier()
    waiter = getattr(comm, "waiter", None)
    if waiter is None:  # a world of one
        return work.wait()
    started = time.monotonic()
    while not work.is_completed():
        waiter.serve()  # answer other ranks' questions while waiting
        elapsed = time.monotonic() - started
        if elapsed > seconds:
            report = waiter.report_now(work.is_completed, work.seq, "monitored_barrier", elapsed)
            if report is not None:
                raise RuntimeError(f"{comm.topology.prefix} monitored_barrier: not every rank arrived within "
                                   f"{seconds:g} s; {report}")
        time.sleep(waiter.NAP_SECONDS)
    return None
