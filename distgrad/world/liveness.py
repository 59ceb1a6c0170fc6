"""Lost peers end the job: ranks exchange small heartbeats from a thread of their own, over
TCP connections of their own, and a rank that stops hearing from a peer ends the job.

Why: MPI cannot tell a lost peer from a slow one. A collective that waits for a rank whose
host crashed, or that sits behind a cut network link, waits forever, and mpiexec only
notices processes that exit where it can still reach them (RELIABILITY.md, "Lost peers").
So liveness is judged by heartbeats, never by how long a collective waited:

- Heartbeats come from a daemon thread. A rank that is alive but busy (evaluating, writing
  a checkpoint, sleeping, even a pure-Python loop) keeps sending them: Python hands the GIL
  to another thread every sys.getswitchinterval() seconds (5 ms), and NumPy, MPI waits and
  sleeps release it. A slow peer gets the stall warning (comm/waiting.py), not this.
- A peer silent for DISTGRAD_PEER_TIMEOUT seconds (default 30) is lost: this rank prints
  ``[rank r/N host] lost contact with rank k (host h) for 30 s; ending the job`` and exits at
  once with code 75 (os._exit: MPI_Abort may itself hang on a partition). Every rank judges
  for itself, so both sides of a partition end.
- A peer whose connection closes without a goodbye has lost its process (killed, crashed):
  the same, at once. A rank that finalizes says goodbye, and its peers stop watching it. A
  rank ending after an uncaught exception says so first (failure.py), so its peers stay
  quiet while MPI_Abort takes the job down, and end themselves a few seconds later if it
  does not. A rank that ends the job tells its peers why, and they end too.
- Addresses are exchanged once, with an all-gather at init (heartbeat_links.py has the
  connections). A rank listens on an ephemeral port of every interface and offers its
  host's IPv4 addresses, those of its interfaces and its host name's
  (DISTGRAD_LIVENESS_ADDRESS overrides them); peers on the same host use the loopback. A peer that cannot be reached at all at start-up only gets a warning:
  detection is off for it, the job goes on.
- Up to 64 ranks every rank watches every other; larger jobs watch ranks at distances 1, 2,
  4, ... (about 2 log2 N peers each), and the news of a rank ending spreads from peer to peer.

DISTGRAD_LIVENESS=0 turns it off. A rank that holds the GIL in one C call for longer than the
timeout also goes silent; raise DISTGRAD_PEER_TIMEOUT for such programs.
"""
import os
import selectors
import socket
import sys
import threading
import time

from ..utils.ranks import format_prefix
from .heartbeat_links import FRAME, LinkState, PeerLinks, peek, watched_peers

EXIT_CODE = 75               # EX_TEMPFAIL: the job may be resumed from its last checkpoint
DEFAULT_TIMEOUT = 30.0
ABORT_GRACE = 3.0            # how long MPI_Abort gets to end the job before we do
LEAVE_SECONDS = 0.5          # how long a goodbye waits for the peers to close their side
HEARTBEAT, GOODBYE, ABORTING, ENDING = b"H", b"B", b"A", b"E"

__all__ = ["EXIT_CODE", "Liveness", "announce_abort", "current", "settings_from_env", "start", "stop",
           "watched_peers"]


def settings_from_env(environ=None):
    """(enabled, peer timeout in seconds) from DISTGRAD_LIVENESS and DISTGRAD_PEER_TIMEOUT."""
    environ = os.environ if environ is None else environ
    enabled = environ.get("DISTGRAD_LIVENESS", "1") not in ("0", "")
    value = environ.get("DISTGRAD_PEER_TIMEOUT", str(DEFAULT_TIMEOUT))
    try:
        timeout = float(value)
    except ValueError:
        raise ValueError(f"DISTGRAD_PEER_TIMEOUT must be a number of seconds, got {value!r}") from None
    if not timeout > 0:
        raise ValueError(f"DISTGRAD_PEER_TIMEOUT must be positive, got {value!r}")
    return enabled, timeout


class Liveness(PeerLinks):
    """One rank's heartbeats: ``card()`` goes into the all-gather, ``start(cards)`` starts
    the thread. ``end`` is called with the exit code when the job must end (os._exit; tests
    pass their own), ``write`` with each message (stderr)."""

    def __init__(self, rank, size, host, timeout=DEFAULT_TIMEOUT, prefix=None, end=None, write=None,
                 clock=time.monotonic, environ=None):
        super().__init__(rank, host, os.environ if environ is None else environ, clock)
        self.size, self.timeout = size, float(timeout)
        self.prefix = prefix or format_prefix(rank, size, host)
        self.interval = min(1.0, self.timeout / 10)
        self._end_process = end or os._exit
        self._write = write or _write_stderr
        self.ended = None        # the message this rank ended the job with
        self._commands = []
        self._done = threading.Event()
        self._stopped = False
        self._leaving_until = None
        self._thread = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")

    # -- the main thread's side ---------------------------------------------------------
    def start(self, cards):
        """``cards``: every rank's ``card()``, in rank order (from an all-gather)."""
        self.add_peers(cards, self.size)
        self.started = self.clock()
        self._thread = threading.Thread(target=self._run, name="distgrad-liveness", daemon=True)
        self._thread.start()

    def stop(self, timeout=2.0):
        """Say goodbye to every peer and stop the thread."""
        self._command("goodbye", timeout)
        self._close_all()

    def announce_abort(self, timeout=1.0):
        """Tell every peer this rank is ending the job after an error (before MPI_Abort)."""
        self._command("abort", timeout)

    def _command(self, what, timeout):
        if self._thread is None or not self._thread.is_alive():
            return
        self._done.clear()
        self._commands.append(what)
        try:
            self._wake_w.send(b"!")
        except OSError:
            return
        self._done.wait(timeout)

    # -- the thread -----------------------------------------------------------------------
    def _run(self):
        try:
            self._loop()
        except Exception as exc:  # a bug here must not end a healthy job: step aside, loudly
            self._write(f"{self.prefix} WARNING: lost-peer detection stopped after an internal error "
                        f"({type(exc).__name__}: {exc}); the job goes on without it\n")
            self.broadcast(GOODBYE, 0)
            self._done.set()

    def _loop(self):
        next_beat = self.clock()
        while not self._stopped:
            now = self.clock()
            wait = max(0.0, min(next_beat, self.next_connect(now + self.interval)) - now)
            for key, _ in self.selector.select(wait):
                if key.data == "wake":
                    self._run_commands()
                else:
                    self.on_socket_event(key.data, key.fileobj)
                if self._stopped:
                    return
            now = self.clock()
            if now >= next_beat:
                self.broadcast(HEARTBEAT, 0)
                next_beat = now + self.interval
            if self._leaving_until is not None:
                self._finish_leaving(now)
                continue
            self.connect_due(now)
            self._check(now)

    def _run_commands(self):
        try:
            while self._wake_r.recv(64):
                pass
        except BlockingIOError:
            pass
        while self._commands:
            what = self._commands.pop(0)
            if what == "goodbye":
                self._leave()
            elif what == "abort":
                self.broadcast(ABORTING, self.rank)
                self._done.set()

    def _leave(self):
        """Goodbye, then half-close and wait (briefly) for each peer to close its side, so no
        connection is reset with the goodbye still unread. A link whose hello this rank has
        sent gets the goodbye too (behind the hello): the peer may already watch it."""
        frame = FRAME.pack(GOODBYE, 0)
        for peer in self.peers.values():
            if peer.state in (LinkState.OPEN, LinkState.HELLO):
                self.send(peer, frame)
                try:
                    peer.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                peer.state = LinkState.LEAVING
        self._leaving_until = self.clock() + LEAVE_SECONDS
        self._finish_leaving(self.clock())

    def _finish_leaving(self, now):
        if now > self._leaving_until or not any(p.state == LinkState.LEAVING for p in self.peers.values()):
            self._stopped = True
            self._done.set()

    # -- what arrives ---------------------------------------------------------------------
    def _on_frame(self, peer, kind, argument):
        if kind == GOODBYE:
            self.drop(peer, LinkState.GONE)
            return False
        if kind == ABORTING and peer.aborting_since is None:
            peer.aborting_since = peer.heard
        elif kind == ENDING:
            self._ended_by(peer, argument)
            return False
        return True

    def _on_closed(self, peer):
        if peer.state == LinkState.LEAVING or peer.aborting_since is not None:  # expected
            self.drop(peer, LinkState.GONE if peer.state == LinkState.LEAVING else LinkState.CLOSED)
            return
        if peer.state == LinkState.HELLO:
            # Closed before its hello came: a peer leaving before the link was up (it ends
            # without ever watching this one), not a lost process; MPI sees a crash that early.
            self.drop(peer, LinkState.CLOSED)
            return
        self._end(f"lost contact with {peer.name}: its process ended without saying goodbye "
                  "(connection closed; killed or crashed?)", peer.rank)

    def _ended_by(self, peer, lost):
        """``peer`` ends the job because it lost rank ``lost``. When this rank has seen the
        same itself, it says so in its own words (the news often comes first)."""
        other = self.peers.get(lost)
        watching = other is not None and other.state == LinkState.OPEN
        if lost == self.rank:
            self._end(f"{peer.name} ended the job: it lost contact with this rank", lost)
        elif other is not None and other.aborting_since is not None:
            self._end(self._abort_message(other), lost)
        elif watching and peek(other.sock) == b"":
            self._on_closed(other)
        elif watching and self.clock() - other.heard > 3 * self.interval:
            self._end(f"lost contact with {other.name} for {self.clock() - other.heard:.0f} s ({peer.name} "
                      "lost it too, and ended the job first)", lost)
        else:
            self._end(f"{peer.name} ended the job: it lost contact with "
                      f"{other.name if other else f'rank {lost}'}", lost)

    def _warn(self, text):
        self._write(f"{self.prefix} WARNING: lost-peer detection: {text}\n")

    # -- verdicts -------------------------------------------------------------------------
    def _check(self, now):
        open_peers = [p for p in self.peers.values() if p.state == LinkState.OPEN]
        if any(now - p.heard > self.timeout for p in open_peers):
            # A cut link silences several peers at once, but their last beats landed up to an
            # interval apart: name every peer already silent for several beats, not only the
            # first one past the timeout.
            silent = [p for p in open_peers if now - p.heard > 3 * self.interval]
            plural = "s" if len(silent) > 1 else ""
            self._end(f"lost contact with {', '.join(p.name for p in silent)} for {self.timeout:g} s "
                      f"(no heartbeat{plural})", min(silent, key=lambda p: p.heard).rank)
            return
        for peer in self.peers.values():
            if peer.aborting_since is not None and now - peer.aborting_since > ABORT_GRACE:
                self._end(self._abort_message(peer), peer.rank)
                return
        if now - self.started > self.timeout:
            for peer in self.peers.values():
                if peer.state in (LinkState.WAITING, LinkState.CONNECTING, LinkState.HELLO):
                    tried = ", ".join(f"{a}:{peer.port}" for a in peer.addresses)
                    self._warn(f"cannot reach {peer.name} ({tried}) after {self.timeout:g} s; it is off for "
                               "that rank (set DISTGRAD_LIVENESS_ADDRESS to an address peers can reach)")
                    self.drop(peer, LinkState.CLOSED)

    def _abort_message(self, peer):
        return (f"{peer.name} ended the job after an error (its traceback is above), and this rank was "
                f"still running {ABORT_GRACE:g} s later")

    def _end(self, message, lost_rank):
        self.ended = message
        self._write(f"{self.prefix} {message}; ending the job (exit code {EXIT_CODE})\n")
        self.broadcast(ENDING, lost_rank)
        self._stopped = True
        _flush_stdio(timeout=1.0)
        self._end_process(EXIT_CODE)

    def _close_all(self):
        if self._thread is not None and self._thread is not threading.current_thread():
            self._stopped = True
            try:
                self._wake_w.send(b"!")
            except OSError:
                pass
            self._thread.join(1.0)
        self.close_after_fork()
        self.selector.close()

    def close_after_fork(self):
        """In a forked child: drop the parent's sockets without a word (the parent still
        holds them; the child must not keep them open once the parent is gone)."""
        self.close_sockets()
        self._wake_r.close()
        self._wake_w.close()


def _write_stderr(text):
    # os.write, not sys.stderr: the main thread may hold sys.stderr's lock while it is stuck.
    try:
        os.write(2, text.encode("utf-8", "replace"))
    except OSError:
        pass


def _flush_stdio(timeout):
    """Flush what the main thread printed, without waiting forever on a lock it may hold."""
    def flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    worker = threading.Thread(target=flush, daemon=True)
    worker.start()
    worker.join(timeout)


# -- this process's instance -------------------------------------------------------------
_instance = None
_fork_hook = False


def start(comm):
    """Start heartbeats for ``comm`` (called by init on every rank of a world of 2+).

    The all-gather runs on every rank whatever happens here, so ranks never disagree on
    the collectives: a rank that has detection turned off, or cannot open a socket, sends
    None, and then no rank starts it (rank 0 says why)."""
    global _instance, _fork_hook
    if comm.size < 2:
        return None
    stop()
    enabled, timeout = settings_from_env()
    live, why = None, "DISTGRAD_LIVENESS=0"
    if enabled:
        try:
            live = Liveness(comm.rank, comm.size, comm.host, timeout, prefix=comm.prefix)
        except OSError as e:
            why = f"no socket for heartbeats ({e})"
    cards = comm.allgather_object((live.card() if live else None, why))
    off = [(r, reason) for r, (card, reason) in enumerate(cards) if card is None]
    if off:
        if live is not None:
            live.close_after_fork()
        chosen = len(off) == comm.size and all(reason == "DISTGRAD_LIVENESS=0" for _, reason in off)
        if comm.rank == 0 and not chosen:
            _write_stderr(f"{comm.prefix} WARNING: lost-peer detection is off: " +
                          "; ".join(f"rank {r}: {reason}" for r, reason in off) + "\n")
        return None
    live.start([card for card, _ in cards])
    _instance = live
    if not _fork_hook and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook = True
    return live


def stop():
    """Say goodbye and stop (finalize)."""
    live = _take()
    if live is not None:
        live.stop()


def announce_abort():
    """This rank is about to abort the job after an error: its peers need not report it lost."""
    if _instance is not None:
        _instance.announce_abort()


def current():
    return _instance


def _take():
    global _instance
    live, _instance = _instance, None
    return live


def _after_fork_in_child():
    live = _take()
    if live is not None:
        live.close_after_fork()
