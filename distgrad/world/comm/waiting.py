"""Waiting for a collective: poll it, answer the other ranks' questions, warn about stalls.

Every MPI collective is started non-blocking and finished here by polling ``test()``. When a
wait passes DISTGRAD_STALL_WARNING_SECONDS (default 60), this rank asks every other rank,
over a side communicator of its own, which collective it last started. Ranks that wait in a
collective are polling too, so they answer at once; a rank busy elsewhere (computing,
sleeping, stuck in a different call) does not. The warning then names the collective and
the ranks that have not arrived, with what each said it was doing. Nothing is exchanged
unless a wait gets that long, so the normal path costs one cheap probe now and then.

The same channel carries one more message: a rank whose process ends (its script returned,
or called sys.exit) tells the others how many collectives it started. A rank waiting in a
later collective then knows it waits for a rank that is gone, and raises (ending the job
through the failure hook) instead of hanging.
"""
import os
import time

from ...utils.logging import get_logger

QUERY_TAG, REPLY_TAG, EXIT_TAG = 7701, 7702, 7703
_log = get_logger("distgrad.distributed")


def stall_seconds_from_env(environ=None):
    environ = os.environ if environ is None else environ
    value = environ.get("DISTGRAD_STALL_WARNING_SECONDS", "60")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"DISTGRAD_STALL_WARNING_SECONDS must be a number of seconds, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"DISTGRAD_STALL_WARNING_SECONDS must be positive, got {value!r}")
    return seconds


class Waiter:
    """Polls collectives of one communicator; ``side`` is a duplicate of it (mpi4py) that
    only carries stall questions and answers."""

    SPIN_SECONDS = 0.001   # poll flat out this long: most collectives finish within it
    YIELD_SECONDS = 0.05   # then give the core away between polls (ranks may share cores)
    NAP_SECONDS = 0.0005   # and after that sleep between polls: it is a long wait anyway
    LAST_MESSAGE_SECONDS = 1.0  # what a rank sent before it ended may still be on its way

    def __init__(self, side, topology, stall_seconds=None):
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does

        self._mpi = MPI
        self.side = side
        self.topology = topology
        # More ranks than cores on this host: a spinning rank would hold the core that the
        # rank it waits for needs, so give it away from the start.
        self.spin_seconds = 0.0 if topology.local_size > (os.cpu_count() or 1) else self.SPIN_SECONDS
        try:
            self.stall_seconds = stall_seconds_from_env() if stall_seconds is None else stall_seconds
        except ValueError as exc:
            raise ValueError(f"{topology.prefix} {exc}") from None
        self.launched = (0, "")  # the last collective this rank started: (number, what)
        self.waiting = None      # the one it waits in now
        self._status = MPI.Status()
        self._sends = []
        self._query = 0
        self._replies = {}
        self.exited = {}  # rank -> number of collectives it started before its process ended
        self.progress = None  # called while polling: the communicator starts transfers now due

    def started(self, seq, what):
        self.launched = (seq, what)

    def wait(self, test, seq, what):
        if test():
            return
        self.waiting = (seq, what)
        start = time.monotonic()
        warn_after, asked_at, warned = self.stall_seconds, None, False
        spins = 0
        try:
            while not test():
                spins += 1
                if spins & 31:
                    continue
                self.serve()
                if self.progress is not None:
                    self.progress()
                elapsed = time.monotonic() - start
                if self.exited:
                    self._check_exited(seq, what, elapsed)
                if elapsed >= warn_after and asked_at is None:
                    self._ask_everyone()
                    asked_at = elapsed
                if asked_at is not None and (elapsed - asked_at >= self._grace()
                                             or len(self._replies) == self.topology.size - 1):
                    _log.warning(self.stall_report(seq, what, elapsed))
                    warned, asked_at, warn_after = True, None, 2 * warn_after
                if elapsed > self.YIELD_SECONDS:
                    time.sleep(self.NAP_SECONDS)
                elif elapsed > self.spin_seconds:
                    os.sched_yield()
        finally:
            self.waiting = None
        if warned:
            _log.warning(f"{what} (collective #{seq}) completed after "
                         f"{time.monotonic() - start:.1f} s")

    def serve(self):
        """Answer questions from stalled ranks; collect answers to ours."""
        side, status, mpi = self.side, self._status, self._mpi
        while side.Iprobe(source=mpi.ANY_SOURCE, tag=mpi.ANY_TAG, status=status):
            source, tag = status.Get_source(), status.Get_tag()
            message = side.recv(source=source, tag=tag)
            if tag == QUERY_TAG:
                answer = (message, _named(self.launched), _named(self.waiting))
                self._sends.append(side.isend(answer, dest=source, tag=REPLY_TAG))
            elif tag == REPLY_TAG and message[0] == self._query:
                self._replies[source] = message[1:]
            elif tag == EXIT_TAG:
                self.exited[source] = message
        if self._sends:
            self._sends = [r for r in self._sends if not r.Test()]

    def stall_report(self, seq, what, elapsed):
        """Where every other rank is: not arrived (busy, ended, in an earlier collective),
        waiting in this collective too, or already in a later one; "the transfer itself is
        slow" only when every rank is waiting in this very collective."""
        missing, here, later = [], [], []
        for rank in range(self.topology.size):
            if rank == self.topology.rank:
                continue
            reply = self._replies.get(rank)
            if rank in self.exited:
                missing.append(f"rank {rank} (its process has ended, after {self.exited[rank]} collectives)")
                continue
            if reply is None:
                missing.append(f"rank {rank} (no answer: busy outside distgrad collectives, "
                               "e.g. computing, sleeping or blocked in another call)")
                continue
            (their_seq, their_what), their_wait = reply
            waiting_in = None if their_wait is None else their_wait[0]
            if waiting_in == seq:
                here.append(str(rank))
            elif waiting_in is not None and waiting_in > seq:
                later.append(f"rank {rank} (waiting in collective #{waiting_in}: {their_wait[1]})")
            elif their_seq >= seq:
                later.append(f"rank {rank} (started it, then went on: last started collective #{their_seq}: "
                             f"{their_what}; busy outside collectives, so MPI moves its part only when it "
                             "next calls one)")
            elif waiting_in is not None:
                missing.append(f"rank {rank} (waiting in an earlier collective #{waiting_in}: {their_wait[1]})")
            else:
                missing.append(f"rank {rank} (last started collective #{their_seq}: "
                               f"{their_what or 'none'}; busy outside collectives)")
        parts = []
        if missing:
            parts.append("ranks that have not arrived: " + "; ".join(missing))
        if later:
            parts.append("ranks past it, in a later collective or computing: " + "; ".join(later))
        if here:
            parts.append(("every other rank is waiting in it too: the transfer itself is slow (rank "
                          if not missing and not later else "waiting in it too: rank ") + ", ".join(here)
                         + (")" if not missing and not later else ""))
        return f"stall: {what} (collective #{seq}) has waited {elapsed:.1f} s for the other ranks; " + "; ".join(parts)

    def report_now(self, test, seq, what, elapsed):
        """Ask every rank where it is and, after a moment for the answers, say who has not
        arrived (monitored_barrier); None when ``test()`` shows the wait ended meanwhile."""
        self._ask_everyone()
        asked = time.monotonic()
        while time.monotonic() - asked < self._grace() and len(self._replies) < self.topology.size - 1:
            if test():
                return None
            self.serve()
            time.sleep(self.NAP_SECONDS)
        return None if test() else self.stall_report(seq, what, elapsed).split("; ", 1)[-1]

    def announce_exit(self):
        """Tell every other rank that this process is ending after the collectives it started."""
        for rank in range(self.topology.size):
            if rank != self.topology.rank:
                self._sends.append(self.side.isend(self.launched[0], dest=rank, tag=EXIT_TAG))
        self.finalize()

    def finalize(self):
        # Small messages leave at once (eager protocol); nothing is left to wait for.
        self._sends = [r for r in self._sends if not r.Test()]

    def _check_exited(self, seq, what, elapsed):
        gone = sorted(rank for rank, started in self.exited.items() if started < seq)
        peer = _point_to_point_peer(what)
        if not gone and peer in self.exited and elapsed > self.LAST_MESSAGE_SECONDS:
            gone = [peer]  # a send or recv with a rank that has ended, and nothing came in time
        if gone:
            ranks = ", ".join(f"rank {r} (after {self.exited[r]} collectives)" for r in gone)
            raise RuntimeError(f"{self.topology.prefix} {what} (collective #{seq}) can never complete: "
                               f"{ranks} ended its process without joining it (its script returned "
                               "or called sys.exit early)")

    def _ask_everyone(self):
        self._query += 1
        self._replies = {}
        for rank in range(self.topology.size):
            if rank != self.topology.rank:
                self._sends.append(self.side.isend(self._query, dest=rank, tag=QUERY_TAG))

    def _grace(self):
        # Ranks waiting in a collective poll often, so they answer within milliseconds.
        return min(0.5, self.stall_seconds / 2)


def _point_to_point_peer(what):
    """The other rank of a send or recv (None for collectives and receives from any rank)."""
    details = getattr(what, "details", None) or {}
    return details.get("src", details.get("dst"))


def _named(entry):
    """(number, what) with ``what`` as text, to send to another rank."""
    return None if entry is None else (entry[0], str(entry[1]))
