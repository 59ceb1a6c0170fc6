"""The connections behind liveness.py: who watches whom, the addresses a rank offers, and
one TCP connection per watching pair, made and served without ever blocking (one selector,
driven by the liveness thread).

Wire format: each side first sends a hello (magic, the job's token, its rank), so a stranger
or another job's rank is dropped; then 5-byte frames, a kind byte and a 32-bit argument.
A rank connects to the lower ranks it watches and accepts the higher ones.
"""
import enum
import secrets
import selectors
import socket
import struct
from typing import List, NamedTuple

HELLO = struct.Struct("!4sQI")  # magic, job token, rank
MAGIC = b"DGLV"
FRAME = struct.Struct("!cI")    # kind, argument
FULL_MESH_LIMIT = 64
MAX_BACKLOG = 4096              # bytes queued for a peer that does not read; older ones are dropped
RETRY_SECONDS = 0.2             # pause after every address of a peer refused a connection


def watched_peers(rank, size, full_mesh_limit=FULL_MESH_LIMIT):
    """The ranks ``rank`` exchanges heartbeats with: all of them up to ``full_mesh_limit``
    ranks, else those at distances 1, 2, 4, ... Symmetric (j watches i iff i watches j) and
    connected, so news that a rank ends reaches every rank."""
    if size <= full_mesh_limit:
        return [r for r in range(size) if r != rank]
    peers, distance = set(), 1
    while distance < size:
        peers.update(((rank + distance) % size, (rank - distance) % size))
        distance *= 2
    peers.discard(rank)
    return sorted(peers)


def local_addresses(environ):
    """IPv4 addresses peers may reach this host at: DISTGRAD_LIVENESS_ADDRESS (comma
    separated) if set, else every interface's address and the host name's, loopback last."""
    chosen = environ.get("DISTGRAD_LIVENESS_ADDRESS", "").strip()
    if chosen:
        return [a.strip() for a in chosen.split(",") if a.strip()]
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    found = [a for a in map(_interface_address, names) if a]
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    unique = list(dict.fromkeys(found))
    return [a for a in unique if not a.startswith("127.")] + ["127.0.0.1"]


def _interface_address(name):
    """The IPv4 address the kernel sends from on interface ``name``, or None: a UDP socket
    bound to the interface is "connected" to the broadcast address (no packet leaves), and the
    source address the route chose is read back. Linux only (SO_BINDTODEVICE)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.connect(("255.255.255.255", 9))
            address = s.getsockname()[0]
    except (OSError, AttributeError):  # no IPv4 address or link there; AttributeError: not Linux
        return None
    return None if address == "0.0.0.0" else address


class LinkState(enum.Enum):
    """Where the connection to a peer stands:
    WAITING -> (CONNECTING ->) HELLO -> OPEN -> LEAVING | GONE | CLOSED."""
    WAITING = enum.auto()     # not connected yet (a lower rank connects, a higher one is accepted)
    CONNECTING = enum.auto()  # this rank's non-blocking connect is under way
    HELLO = enum.auto()       # connected; the peer's hello has not arrived yet
    OPEN = enum.auto()        # hello exchanged: heartbeats flow and are watched
    LEAVING = enum.auto()     # this rank said goodbye and waits for the peer to close
    GONE = enum.auto()        # the peer said goodbye: no longer watched
    CLOSED = enum.auto()      # dropped: unreachable, another job, or closed as expected


class Card(NamedTuple):
    """What the other ranks need to reach a rank (each rank's goes into an all-gather)."""
    rank: int
    host: str
    addresses: List[str]
    port: int
    token: int  # rank 0's becomes the job's token, which every hello carries


class Peer:
    __slots__ = ("rank", "host", "addresses", "port", "sock", "state", "inbox", "outbox", "heard",
                 "next_try", "tried", "aborting_since")

    def __init__(self, rank, host, addresses, port):
        self.rank, self.host, self.addresses, self.port = rank, host, addresses, port
        self.sock = None
        self.state = LinkState.WAITING
        self.inbox, self.outbox = b"", b""
        self.heard = None          # when its last bytes arrived
        self.next_try, self.tried = 0.0, 0
        self.aborting_since = None

    @property
    def name(self):
        return f"rank {self.rank} (host {self.host})"


class PeerLinks:
    """The listening socket, the connections and their messages. Subclasses handle what
    arrives: ``_on_frame(peer, kind, argument)`` (return False to stop reading this batch),
    ``_on_closed(peer)``, and ``_warn(text)``."""

    def __init__(self, rank, host, environ, clock):
        self.rank, self.host, self.clock = rank, host, clock
        self.token = secrets.randbits(63)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("0.0.0.0", 0))
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.addresses = local_addresses(environ)
        self.peers = {}
        self.pending = []          # accepted sockets whose hello has not arrived yet
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "listener")

    def card(self):
        """What the other ranks need to reach this one (goes into an all-gather)."""
        return Card(self.rank, self.host, self.addresses, self.listener.getsockname()[1], self.token)

    def add_peers(self, cards, size):
        """``cards``: every rank's ``card()``, in rank order."""
        self.job_token = cards[0].token
        for r in watched_peers(self.rank, size):
            card = cards[r]
            addresses = card.addresses
            if card.host == self.host:  # same machine: the loopback always works
                addresses = ["127.0.0.1"] + [a for a in addresses if a != "127.0.0.1"]
            self.peers[r] = Peer(r, card.host, addresses, card.port)

    def on_socket_event(self, data, sock):
        if data == "listener":
            self._accept()
        elif data == "stranger":
            self._hello_from_stranger(sock)
        elif data.state == LinkState.CONNECTING:
            self._connected(data)
        else:
            self._receive(data)

    # -- connecting -----------------------------------------------------------------------
    def next_connect(self, default):
        times = [p.next_try for p in self.peers.values()
                 if p.state == LinkState.WAITING and p.rank < self.rank]
        return min(times, default=default)

    def connect_due(self, now):
        for peer in self.peers.values():
            if peer.state == LinkState.WAITING and peer.rank < self.rank and now >= peer.next_try:
                address = peer.addresses[peer.tried % len(peer.addresses)]
                peer.tried += 1
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex((address, peer.port))
                peer.sock, peer.state = sock, LinkState.CONNECTING
                self.selector.register(sock, selectors.EVENT_WRITE, peer)

    def _connected(self, peer):
        error = peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self.selector.unregister(peer.sock)
        if error:
            peer.sock.close()
            peer.sock, peer.state = None, LinkState.WAITING
            if peer.tried % len(peer.addresses) == 0:  # every address tried once: pause
                peer.next_try = self.clock() + RETRY_SECONDS
            return
        peer.state = LinkState.HELLO
        self.selector.register(peer.sock, selectors.EVENT_READ, peer)
        self.send(peer, HELLO.pack(MAGIC, self.job_token, self.rank))

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
        data = receive(sock)
        if data is None:
            return
        entry[1] += data
        if data and len(entry[1]) < HELLO.size:
            return
        self.pending.remove(entry)
        self.selector.unregister(sock)
        rank = self._hello_rank(entry[1])
        peer = self.peers.get(rank)
        if peer is None or rank < self.rank or peer.state != LinkState.WAITING:
            sock.close()
            return
        peer.sock, peer.state, peer.inbox = sock, LinkState.HELLO, entry[1]
        self.selector.register(sock, selectors.EVENT_READ, peer)
        self.send(peer, HELLO.pack(MAGIC, self.job_token, self.rank))
        self._absorb(peer)

    def _hello_rank(self, data):
        if len(data) < HELLO.size:
            return None
        magic, token, rank = HELLO.unpack_from(data)
        return rank if magic == MAGIC and token == self.job_token else None

    # -- messages -------------------------------------------------------------------------
    def send(self, peer, data):
        peer.outbox += data
        try:
            sent = peer.sock.send(peer.outbox)
            peer.outbox = peer.outbox[sent:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            peer.outbox = b""  # the reading side sees the closed connection
        if len(peer.outbox) > MAX_BACKLOG:
            peer.outbox = peer.outbox[-MAX_BACKLOG:]

    def broadcast(self, kind, argument):
        frame = FRAME.pack(kind, argument)
        for peer in self.peers.values():
            if peer.state == LinkState.OPEN:
                self.send(peer, frame)

    def _receive(self, peer):
        data = receive(peer.sock)
        if data is None:
            return
        if not data:
            self._on_closed(peer)
            return
        if peer.state == LinkState.LEAVING:  # this rank said goodbye: only the peer's closing matters
            return
        peer.inbox += data
        self._absorb(peer)

    def _absorb(self, peer):
        if peer.state == LinkState.HELLO:
            if len(peer.inbox) < HELLO.size:
                return
            if self._hello_rank(peer.inbox) != peer.rank:
                self._warn(f"{peer.name} answered with another job's greeting; not watching it")
                self.drop(peer, LinkState.CLOSED)
                return
            peer.inbox, peer.state = peer.inbox[HELLO.size:], LinkState.OPEN
        peer.heard = self.clock()
        count = len(peer.inbox) // FRAME.size
        frames, peer.inbox = peer.inbox[:count * FRAME.size], peer.inbox[count * FRAME.size:]
        for i in range(count):
            if self._on_frame(peer, *FRAME.unpack_from(frames, i * FRAME.size)) is False:
                return

    def drop(self, peer, state):
        if peer.sock is not None:
            try:
                self.selector.unregister(peer.sock)
            except (KeyError, ValueError):
                pass
            peer.sock.close()
        peer.sock, peer.state = None, state

    def close_sockets(self):
        """Close everything without a word (also what a forked child does with the parent's)."""
        for peer in self.peers.values():
            if peer.sock is not None:
                peer.sock.close()
        for sock, _ in self.pending:
            sock.close()
        self.listener.close()


def receive(sock):
    """What arrived: bytes, b"" when the peer closed the connection, None when nothing yet."""
    try:
        return sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:  # reset by the peer: closed as well
        return b""


def peek(sock):
    """Like receive, leaving the data where it is."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
