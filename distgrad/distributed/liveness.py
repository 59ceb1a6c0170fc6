"""Lost peers end the job: ranks exchange small heartbeats from a thread of their own, over
TCP connections of their own, and a rank that stops hearing from a peer ends the job.

Why: MPI cannot tell a lost peer from a slow one. A collective that waits for a rank whose
host crashed, or that sits behind a cut network link, waits forever (an MPICH job across
two network namespaces whose link was cut kept spinning at 100% CPU for more than 95 s),
and mpiexec only notices processes that exit where it can still reach them. So liveness is
judged by heartbeats, never by how long a collective waited:

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
- Addresses are exchanged once, with an all-gather at init. A rank listens on an ephemeral
  port of every interface and offers its host's IPv4 addresses (DISTGRAD_LIVENESS_ADDRESS
  overrides them); peers on the same host use the loopback. A connection starts with the
  job's token both ways, so strangers are dropped. A peer that cannot be reached at all at
  start-up only gets a warning: detection is off for it, the job goes on.
- Up to 64 ranks every rank watches every other; larger jobs watch ranks at distances 1, 2,
  4, ... (about 2 log2 N peers each), and the news of a rank ending spreads from peer to peer.

DISTGRAD_LIVENESS=0 turns it off. A rank that holds the GIL in one C call for longer than the
timeout also goes silent; raise DISTGRAD_PEER_TIMEOUT for such programs.
"""
import os
import secrets
import selectors
import socket
import struct
import sys
import threading
import time

EXIT_CODE = 75               # EX_TEMPFAIL: the job may be resumed from its last checkpoint
DEFAULT_TIMEOUT = 30.0
FULL_MESH_LIMIT = 64
ABORT_GRACE = 3.0            # how long MPI_Abort gets to end the job before we do
_HELLO = struct.Struct("!4sQI")  # magic, job token, rank
_MAGIC = b"DGLV"
_FRAME = struct.Struct("!cI")    # kind, argument
HEARTBEAT, GOODBYE, ABORTING, ENDING = b"H", b"B", b"A", b"E"
_MAX_BACKLOG = 4096          # bytes queued for a peer that does not read; heartbeats beyond are dropped


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


def watched_peers(rank, size, full_mesh_limit=FULL_MESH_LIMIT):
    """The ranks ``rank`` exchanges heartbeats with. Symmetric (j watches i iff i watches j)
    and connected, so news that a rank ends reaches every rank."""
    if size <= full_mesh_limit:
        return [r for r in range(size) if r != rank]
    peers, distance = set(), 1
    while distance < size:
        peers.update(((rank + distance) % size, (rank - distance) % size))
        distance *= 2
    peers.discard(rank)
    return sorted(peers)


def local_addresses(environ=None):
    """IPv4 addresses peers may reach this host at: DISTGRAD_LIVENESS_ADDRESS (comma
    separated) if set, else every interface's address, loopback last."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("DISTGRAD_LIVENESS_ADDRESS", "").strip()
    if chosen:
        return [a.strip() for a in chosen.split(",") if a.strip()]
    found = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    found += [a for a in map(_interface_address, names) if a]
    try:
        found += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    unique = list(dict.fromkeys(found))
    return [a for a in unique if not a.startswith("127.")] + ["127.0.0.1"]


def _interface_address(name):
    try:
        import fcntl
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
        return socket.inet_ntoa(packed[20:24])
    except (OSError, ImportError):
        return None


class _Peer:
    __slots__ = ("rank", "host", "addresses", "port", "sock", "state", "inbox", "outbox", "heard",
                 "next_try", "tried", "aborting_since")

    def __init__(self, rank, host, addresses, port):
        self.rank, self.host, self.addresses, self.port = rank, host, addresses, port
        self.sock = None
        self.state = "waiting"   # waiting -> (connecting ->) hello -> open -> gone | closed
        self.inbox, self.outbox = b"", b""
        self.heard = None
        self.next_try, self.tried = 0.0, 0
        self.aborting_since = None

    @property
    def name(self):
        return f"rank {self.rank} (host {self.host})"


class Liveness:
    """One rank's heartbeats. ``card()`` goes into the all-gather; ``start(cards)`` connects
    and starts the thread. ``end`` is called with the exit code when the job must end (it
    defaults to os._exit; tests pass their own)."""

    def __init__(self, rank, size, host, timeout=DEFAULT_TIMEOUT, prefix=None, end=None, write=None,
                 clock=time.monotonic, environ=None):
        self.rank, self.size, self.host, self.timeout = rank, size, host, float(timeout)
        self.prefix = prefix or f"[rank {rank}/{size} {host}]"
        self.interval = min(1.0, self.timeout / 10)
        self.clock = clock
        self._end_process = end or os._exit
        self._write = write or _write_stderr
        self.token = secrets.randbits(63)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("0.0.0.0", 0))
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.addresses = local_addresses(environ)
        self.peers = {}
        self.pending = []        # accepted sockets whose hello has not arrived yet
        self.ended = None        # the message this rank ended with
        self._commands = []
        self._done = threading.Event()
        self._stopped = False
        self._leaving_until = None
        self._thread = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector = selectors.DefaultSelector()

    def card(self):
        """What the other ranks need to reach this one."""
        return (self.rank, self.host, self.addresses, self.listener.getsockname()[1], self.token)

    # -- the main thread's side ---------------------------------------------------------
    def start(self, cards):
        """``cards``: every rank's ``card()``, in rank order (from an all-gather)."""
        self.job_token = cards[0][4]
        for r in watched_peers(self.rank, self.size):
            _, host, addresses, port, _ = cards[r]
            if host == self.host:  # same machine: the loopback always works
                addresses = ["127.0.0.1"] + [a for a in addresses if a != "127.0.0.1"]
            self.peers[r] = _Peer(r, host, addresses, port)
        self.started = self.clock()
        self.selector.register(self.listener, selectors.EVENT_READ, "listener")
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
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
            self._broadcast(GOODBYE, 0)
            self._done.set()

    def _loop(self):
        next_beat = self.clock()
        while not self._stopped:
            now = self.clock()
            wait = max(0.0, min(next_beat, self._next_connect(now)) - now)
            for key, mask in self.selector.select(wait):
                self._on_event(key.data, mask, key.fileobj)
                if self._stopped:
                    return
            now = self.clock()
            if now >= next_beat:
                self._broadcast(HEARTBEAT, 0)
                next_beat = now + self.interval
            if self._leaving_until is not None:
                self._finish_leaving(now)
                continue
            self._connect_due(now)
            self._check(now)

    def _on_event(self, data, mask, sock):
        if data == "listener":
            self._accept()
        elif data == "wake":
            self._run_commands()
        elif isinstance(data, _Peer):
            if data.state == "connecting":
                self._connected(data)
            else:
                self._receive(data)
        else:  # an accepted socket whose hello is due
            self._hello_from_stranger(sock)

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
                self._broadcast(ABORTING, self.rank)
                self._done.set()

    def _leave(self):
        """Goodbye, then half-close and wait (briefly) for each peer to close its side, so no
        connection is reset with the goodbye still unread."""
        self._broadcast(GOODBYE, 0)
        for peer in self.peers.values():
            if peer.state == "open":
                try:
                    peer.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                peer.state = "leaving"
        self._leaving_until = self.clock() + 0.5
        self._finish_leaving(self.clock())

    def _finish_leaving(self, now):
        if self._leaving_until is None:
            return
        if now > self._leaving_until or not any(p.state == "leaving" for p in self.peers.values()):
            self._stopped = True
            self._done.set()

    # -- connections ----------------------------------------------------------------------
    def _next_connect(self, now):
        times = [p.next_try for p in self.peers.values() if p.state == "waiting" and p.rank < self.rank]
        return min(times) if times else now + self.interval

    def _connect_due(self, now):
        """This rank connects to the lower ranks it watches; the higher ones connect to it."""
        for peer in self.peers.values():
            if peer.state == "waiting" and peer.rank < self.rank and now >= peer.next_try:
                address = peer.addresses[peer.tried % len(peer.addresses)]
                peer.tried += 1
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex((address, peer.port))
                peer.sock, peer.state = sock, "connecting"
                self.selector.register(sock, selectors.EVENT_WRITE, peer)

    def _connected(self, peer):
        error = peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self.selector.unregister(peer.sock)
        if error:
            peer.sock.close()
            peer.sock, peer.state = None, "waiting"
            # Tried every address once: pause before the next round.
            peer.next_try = self.clock() + (0.2 if peer.tried % len(peer.addresses) == 0 else 0.0)
            return
        peer.state = "hello"
        self.selector.register(peer.sock, selectors.EVENT_READ, peer)
        self._send(peer, _HELLO.pack(_MAGIC, self.job_token, self.rank))

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            self.pending.append([sock, b""])
            self.selector.register(sock, selectors.EVENT_READ, "stranger")

    def _hello_from_stranger(self, sock):
        entry = next(e for e in self.pending if e[0] is sock)
        data = _recv(sock)
        if data is None:
            return
        if data:
            entry[1] += data
            if len(entry[1]) < _HELLO.size:
                return
        self.pending.remove(entry)
        self.selector.unregister(sock)
        rank = self._check_hello(entry[1][:_HELLO.size]) if data else None
        peer = self.peers.get(rank)
        if peer is None or rank < self.rank or peer.state != "waiting":
            sock.close()
            return
        peer.sock, peer.state = sock, "hello"
        peer.inbox = entry[1]
        self.selector.register(sock, selectors.EVENT_READ, peer)
        self._send(peer, _HELLO.pack(_MAGIC, self.job_token, self.rank))
        self._absorb(peer)

    def _check_hello(self, data):
        if len(data) < _HELLO.size:
            return None
        magic, token, rank = _HELLO.unpack(data)
        return rank if magic == _MAGIC and token == self.job_token else None

    # -- messages -------------------------------------------------------------------------
    def _send(self, peer, data):
        peer.outbox += data
        try:
            sent = peer.sock.send(peer.outbox)
            peer.outbox = peer.outbox[sent:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            peer.outbox = b""  # the reading side sees the closed connection
        if len(peer.outbox) > _MAX_BACKLOG:
            peer.outbox = peer.outbox[-_MAX_BACKLOG:]

    def _broadcast(self, kind, argument):
        frame = _FRAME.pack(kind, argument)
        for peer in self.peers.values():
            if peer.state == "open":
                self._send(peer, frame)

    def _receive(self, peer):
        data = _recv(peer.sock)
        if data is None:
            return
        if peer.state == "leaving":  # only its closing matters now
            if not data:
                self._drop(peer, "gone")
            return
        if not data:
            self._closed(peer)
            return
        peer.inbox += data
        self._absorb(peer)

    def _absorb(self, peer):
        if peer.state == "hello":
            if len(peer.inbox) < _HELLO.size:
                return
            if self._check_hello(peer.inbox[:_HELLO.size]) != peer.rank:
                self._write(f"{self.prefix} WARNING: lost-peer detection: {peer.name} answered with "
                            "another job's greeting; not watching it\n")
                self._drop(peer, "closed")
                return
            peer.inbox = peer.inbox[_HELLO.size:]
            peer.state = "open"
        peer.heard = self.clock()
        count = len(peer.inbox) // _FRAME.size
        frames, peer.inbox = peer.inbox[:count * _FRAME.size], peer.inbox[count * _FRAME.size:]
        for i in range(count):
            kind, argument = _FRAME.unpack_from(frames, i * _FRAME.size)
            if kind == GOODBYE:
                self._drop(peer, "gone")
                return
            if kind == ABORTING and peer.aborting_since is None:
                peer.aborting_since = peer.heard
            elif kind == ENDING:
                self._ended_by(peer, argument)
                return

    def _ended_by(self, peer, lost):
        """``peer`` ends the job because it lost rank ``lost``. When this rank has seen the
        same itself, it says so in its own words (the news often comes first)."""
        other = self.peers.get(lost)
        if lost == self.rank:
            self._end(f"{peer.name} ended the job: it lost contact with this rank", lost)
        elif other is not None and other.aborting_since is not None:
            self._end(self._abort_message(other), lost)
        elif other is not None and other.state == "open" and _peek(other.sock) == b"":
            self._closed(other)
        elif other is not None and other.state == "open" and self.clock() - other.heard > 3 * self.interval:
            self._end(f"lost contact with {other.name} for {self.clock() - other.heard:.0f} s ({peer.name} "
                      "lost it too, and ended the job first)", lost)
        else:
            self._end(f"{peer.name} ended the job: it lost contact with "
                      f"{other.name if other else f'rank {lost}'}", lost)

    def _closed(self, peer):
        if peer.aborting_since is not None:  # expected: MPI_Abort is ending the job
            self._drop(peer, "closed")
            return
        self._end(f"lost contact with {peer.name}: its process ended without saying goodbye "
                  "(connection closed; killed or crashed?)", peer.rank)

    def _drop(self, peer, state):
        if peer.sock is not None:
            try:
                self.selector.unregister(peer.sock)
            except (KeyError, ValueError):
                pass
            peer.sock.close()
        peer.sock, peer.state = None, state

    # -- verdicts -------------------------------------------------------------------------
    def _check(self, now):
        silent = [p for p in self.peers.values() if p.state == "open" and now - p.heard > self.timeout]
        if silent:
            names = ", ".join(p.name for p in silent)
            plural = "s" if len(silent) > 1 else ""
            self._end(f"lost contact with {names} for {self.timeout:g} s (no heartbeat{plural})",
                      silent[0].rank)
            return
        for peer in self.peers.values():
            if peer.aborting_since is not None and now - peer.aborting_since > ABORT_GRACE:
                self._end(self._abort_message(peer), peer.rank)
                return
        if now - self.started > self.timeout:
            for peer in self.peers.values():
                if peer.state in ("waiting", "connecting", "hello"):
                    tried = ", ".join(f"{a}:{peer.port}" for a in peer.addresses)
                    self._write(f"{self.prefix} WARNING: lost-peer detection cannot reach {peer.name} "
                                f"({tried}) after {self.timeout:g} s; it is off for that rank (set "
                                "DISTGRAD_LIVENESS_ADDRESS to an address peers can reach)\n")
                    self._drop(peer, "closed")

    def _abort_message(self, peer):
        return (f"{peer.name} ended the job after an error (its traceback is above), and this rank was "
                f"still running {ABORT_GRACE:g} s later")

    def _end(self, message, lost_rank):
        self.ended = message
        self._write(f"{self.prefix} {message}; ending the job (exit code {EXIT_CODE})\n")
        self._broadcast(ENDING, lost_rank)
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
        for peer in self.peers.values():
            if peer.sock is not None:
                peer.sock.close()
        for sock, _ in self.pending:
            sock.close()
        for sock in (self.listener, self._wake_r, self._wake_w):
            sock.close()
        self.selector.close()

    def close_after_fork(self):
        """In a forked child: drop the parent's sockets without a word (the parent still
        holds them; the child must not keep them open once the parent is gone)."""
        for peer in self.peers.values():
            if peer.sock is not None:
                peer.sock.close()
        for sock in (self.listener, self._wake_r, self._wake_w):
            sock.close()


def _recv(sock):
    """What arrived: bytes, b"" when the peer closed the connection, None when nothing yet."""
    try:
        return sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:  # reset by the peer: closed as well
        return b""


def _peek(sock):
    """Like _recv, leaving the data where it is."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


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
    """Start heartbeats for ``comm`` (called by init on every rank of a world of 2+)."""
    global _instance, _fork_hook
    enabled, timeout = settings_from_env()
    if not enabled or comm.size < 2:
        return None
    stop()
    live = Liveness(comm.rank, comm.size, comm.host, timeout, prefix=comm.prefix)
    live.start(comm.allgather_object(live.card()))
    _instance = live
    if not _fork_hook and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook = True
    return live


def stop():
    """Say goodbye and stop (finalize)."""
    global _instance
    live, _instance = _instance, None
    if live is not None:
        live.stop()


def announce_abort():
    """This rank is about to abort the job after an error: its peers need not report it lost."""
    if _instance is not None:
        _instance.announce_abort()


def current():
    return _instance


def _after_fork_in_child():
    global _instance
    live, _instance = _instance, None
    if live is not None:
        live.close_after_fork()
