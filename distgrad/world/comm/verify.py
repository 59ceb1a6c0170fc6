"""Every collective checked across ranks, always: a fingerprint in the same message.

Each collective of the MPI communicator begins with one all-gather of a fixed-size *slot* per
rank, on a communicator of its own. A slot starts with a header: a fingerprint of the call
(its sequence number, kind, reduce op, root, dtype and shape, hashed to 62 bits) and the
payload's length. A small payload (at most INLINE_BYTES) rides in the slot itself: that
all-gather *is* the collective, and every rank computes its result from every rank's slot
(reductions in rank order, so every rank gets the same bits). A larger payload travels in a
second operation on the main communicator, started only once every header agreed, so a
mismatched transfer never reaches the wire.

Every rank runs exactly one slot exchange of the same length per collective, so the
exchanges pair up whatever the ranks called (3 floats against 100,000, an all-reduce against
a barrier), and every rank receives every header: a mismatch is seen by all ranks at once.
They then swap descriptions of their calls (a rare all-gather on a third communicator) and
each raises an error naming every rank's call.
"""
import struct
import time

import numpy

from . import debug
from .bfloat16 import bfloat16_sum

SLOT_BYTES = 128
HEADER_BYTES = 16                           # fingerprint, sequence number (int64 each)
INLINE_BYTES = SLOT_BYTES - HEADER_BYTES   # payloads up to this size travel in the slot
REPORT_SECONDS = 10.0  # how long to wait for the other ranks' descriptions of a mismatch

_HEADER = struct.Struct("<qq")
_MASK = (1 << 62) - 1
# Names as small integers: the hash of a str differs between processes, an int's does not.
_CODES = {name: code for code, name in enumerate(
    (None, "sum", "max", "min", "bfloat16", "all_reduce", "broadcast", "all_gather", "reduce_scatter",
     "barrier", "reduce", "gather", "scatter", "broadcast_object", "all_gather_object"))}
_REDUCE = {"sum": numpy.add, "max": numpy.maximum, "min": numpy.minimum}


def call_key(what):
    """A hash of what must agree across ranks about a call, but for its sequence number."""
    details, dtype = what.details, what.dtype
    return hash((_CODES[what.kind], _CODES[details.get("op")], _CODES[details.get("element")],
                 details.get("root", -1),
                 -1 if dtype is None else (ord(dtype.kind) << 8) + dtype.itemsize,
                 what.shape or ()))  # hash(None) may differ between processes


def call_fingerprint(seq, what, key=None):
    """A 62-bit number that differs, but for a 2**-62 chance, between two different calls."""
    return hash((seq, call_key(what) if key is None else key)) & _MASK


class Slots:
    """The slot exchanges of one communicator: ``comm`` carries the slots, ``report`` the
    descriptions exchanged after a mismatch (both duplicates of the main communicator, so
    they never pair with its own operations)."""

    def __init__(self, comm, rank, size, error):
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does

        self.comm, self.report = comm.Dup(), comm.Dup()
        self.rank, self.size, self.error = rank, size, error
        self._in_place = MPI.IN_PLACE

    def start(self, seq, what, payload=None):
        """Start the exchange of this rank's slot (header and, when given, ``payload``, a
        host array of at most INLINE_BYTES). Returns ``(rows, request)``: ``rows`` (size x
        SLOT_BYTES) holds every rank's slot once ``request`` is complete."""
        rows = numpy.empty(self.size * SLOT_BYTES, numpy.uint8)
        offset = self.rank * SLOT_BYTES
        _HEADER.pack_into(rows, offset, call_fingerprint(seq, what), seq)
        if payload is not None:
            start = offset + HEADER_BYTES
            rows[start:start + payload.nbytes] = payload.reshape(-1).view(numpy.uint8)
        return rows, self.comm.Iallgather(self._in_place, rows)

    def check(self, rows, seq, what):
        """Raise, on every rank alike, unless every rank's header equals this rank's."""
        view = memoryview(rows)
        own = view[self.rank * SLOT_BYTES:self.rank * SLOT_BYTES + HEADER_BYTES]
        for r in range(self.size):
            if view[r * SLOT_BYTES:r * SLOT_BYTES + HEADER_BYTES] != own:
                raise self.error(self._mismatch(seq, what))

    def payloads(self, rows, dtype, count):
        """Every rank's inline payload, as an array of shape (size, count)."""
        table = rows.reshape(self.size, SLOT_BYTES)[:, HEADER_BYTES:HEADER_BYTES + count * dtype.itemsize]
        return table.view(dtype)

    def _mismatch(self, seq, what):
        """Every rank's description of its call, as far as they arrive within REPORT_SECONDS."""
        fp = dict(what.fingerprint(), seq=seq)
        mine = debug.encode(fp)
        table = numpy.zeros((self.size, debug.FINGERPRINT_BYTES), numpy.uint8)
        request = self.report.Iallgather(mine, table)
        deadline = time.monotonic() + REPORT_SECONDS
        while not request.Test():
            if time.monotonic() > deadline:  # the job ends on this error: the request may stay open
                return (f"collective #{seq} does not match across ranks: this rank calls {what}; the "
                        "other ranks did not describe theirs within "
                        f"{REPORT_SECONDS:.0f} s. Every rank must call the same collectives in the same "
                        "order with the same shapes and dtypes")
            time.sleep(0.001)
        fingerprints = [debug.decode(row) for row in table]
        return debug.mismatch_message(seq, fingerprints, source="") or (
            f"collective #{seq}: the ranks' fingerprints differ although their calls read the same ({what}); "
            "do the ranks run different Python versions?")


class PendingTransfer:
    """A larger collective between its slot exchange (``check``, a request) and the start of
    its transfer (``start()`` returns the transfer's request, kept in ``request``)."""

    __slots__ = ("rows", "check", "start", "seq", "what", "request")

    def __init__(self, rows, check, start, seq, what):
        self.rows, self.check, self.start, self.seq, self.what = rows, check, start, seq, what
        self.request = None


class InlineAllReduce:
    """Scratch slots and views for all-reduces of one shape, dtype and op, made once: the
    hot path of dist.all_reduce on small tensors (metrics, flags) allocates nothing; on two
    ranks its check is one comparison of two header views and its reduction one ufunc call.
    ``busy`` while an exchange of it is in flight."""

    __slots__ = ("slots", "rows", "mine", "values", "op", "element", "key", "offset", "pair", "busy", "headers")

    def __init__(self, slots, what, op, element):
        self.slots, self.op, self.element, self.busy = slots, op, element, False
        self.rows = numpy.empty(slots.size * SLOT_BYTES, numpy.uint8)
        count = int(numpy.prod(what.shape, dtype=numpy.int64))
        self.values = slots.payloads(self.rows, what.dtype, count).reshape((slots.size,) + what.shape)
        self.mine = self.values[slots.rank, ...]  # a view also for 0-d arrays
        self.key, self.offset = call_key(what), slots.rank * SLOT_BYTES
        view = memoryview(self.rows)
        self.headers = [view[r * SLOT_BYTES:r * SLOT_BYTES + HEADER_BYTES] for r in range(slots.size)]
        # two ranks, plain numbers: one ufunc call on views made here
        self.pair = ((_REDUCE[op], self.values[0, ...], self.values[1, ...]) if slots.size == 2 and element is None
                     else None)

    def start(self, seq, array):
        """This rank's slot filled in; returns the request of the exchange."""
        _HEADER.pack_into(self.rows, self.offset, hash((seq, self.key)) & _MASK, seq)
        self.mine[...] = array
        return self.slots.comm.Iallgather(self.slots._in_place, self.rows)

    def finish(self, seq, what, array):
        """Check every rank's header, then reduce every rank's payload into ``array``."""
        pair, headers = self.pair, self.headers
        if pair is not None:
            if headers[0] != headers[1]:
                self.slots.check(self.rows, seq, what)  # raises, naming every rank's call
            if pair[0] is numpy.add:
                numpy.add(pair[1], pair[2], array)  # a positional out is quicker than out=
            else:
                pair[0](pair[1], pair[2], out=array)
            return
        own = headers[self.slots.rank]
        for header in headers:
            if header != own:
                self.slots.check(self.rows, seq, what)
        reduce_rows(self.values, self.op, self.element, array)


def reduce_rows(values, op, element, out):
    """Reduce rows of ``values`` (one per rank) into ``out`` (flat), in rank order."""
    if element == "bfloat16":  # uint16 bit patterns: rounded after each addition, as MPI's op does
        total = values[0]
        for row in values[1:]:
            total = bfloat16_sum(total, row)
        out[...] = total
    elif len(values) == 2:
        _REDUCE[op](values[0], values[1], out=out)
    else:
        _REDUCE[op].reduce(values, axis=0, out=out)
