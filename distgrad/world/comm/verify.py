"""Every collective checked across ranks, always: a fingerprint in the same message.

Each collective of the MPI communicator begins with one all-gather of a fixed-size *slot* per
rank, on a communicator of its own. A slot starts with a header: the call's sequence number
and a fingerprint of the rest of it (kind, reduce op, root, dtype and shape, hashed to 62
bits). A small payload (at most INLINE_BYTES) rides in the slot itself: that
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
import functools
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


def call_fingerprint(what):
    """A 62-bit hash of what must agree across ranks about a call but for its sequence number
    (which travels next to it in the header): the same for every call of one kind, shape,
    dtype and op, so a plan computes it once."""
    details, dtype = what.details, what.dtype
    return hash((_CODES[what.kind], _CODES[details.get("op")], _CODES[details.get("element")],
                 details.get("root", -1),
                 -1 if dtype is None else (ord(dtype.kind) << 8) + dtype.itemsize,
                 what.shape or ())) & _MASK  # hash(None) may differ between processes


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
        _HEADER.pack_into(rows, offset, call_fingerprint(what), seq)
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
    ranks its check is one comparison of two header views and its reduction one ufunc call,
    or, for the sum of one number, one Python addition (``scalar``). ``busy`` while an
    exchange of it is in flight."""

    __slots__ = ("slots", "rows", "view", "mine", "values", "op", "element", "offset", "pair", "busy",
                 "headers", "scalar", "fingerprint", "gather")

    def __init__(self, slots, what, op, element):
        self.slots, self.op, self.element, self.busy = slots, op, element, False
        self.rows = numpy.empty(slots.size * SLOT_BYTES, numpy.uint8)
        count = int(numpy.prod(what.shape, dtype=numpy.int64))
        self.values = slots.payloads(self.rows, what.dtype, count).reshape((slots.size,) + what.shape)
        self.mine = self.values[slots.rank, ...]  # a view also for 0-d arrays
        self.fingerprint, self.offset = call_fingerprint(what), slots.rank * SLOT_BYTES
        self.gather = functools.partial(slots.comm.Iallgather, slots._in_place, self.rows)  # starts the exchange
        self.view = view = memoryview(self.rows)
        self.headers = [view[r * SLOT_BYTES:r * SLOT_BYTES + HEADER_BYTES] for r in range(slots.size)]
        # two ranks, plain numbers: one ufunc call on views made here
        self.pair = ((_REDUCE[op], self.values[0, ...], self.values[1, ...]) if slots.size == 2 and element is None
                     else None)
        self.scalar = (_ScalarSum(what.dtype) if self.pair is not None and op == "sum" and count == 1
                       and what.dtype.isnative and (what.dtype.kind, what.dtype.itemsize) in _STRUCT_CODES else None)

    def start(self, seq, array):
        """This rank's slot filled in; returns the request of the exchange."""
        _HEADER.pack_into(self.view, self.offset, self.fingerprint, seq)
        self.mine[...] = array
        return self.gather()

    def run(self, waiter, seq, what, array):
        """The blocking all-reduce: start, wait (``waiter``), finish, with fewer calls."""
        scalar = self.scalar
        if scalar is None:
            waiter.wait(self.start(seq, array).Test, seq, what)
            return self.finish(seq, what, array)
        scalar.fill(self.view, self.offset, self.fingerprint, seq, array.item())
        waiter.wait(self.gather().Test, seq, what)
        if self.headers[0] != self.headers[1]:
            self.slots.check(self.rows, seq, what)  # raises, naming every rank's call
        if not scalar.add(self.view, array):
            numpy.add(self.pair[1], self.pair[2], array)

    def finish(self, seq, what, array):
        """Check every rank's header, then reduce every rank's payload into ``array``."""
        pair, headers = self.pair, self.headers
        if pair is not None:
            if headers[0] != headers[1]:
                self.slots.check(self.rows, seq, what)  # raises, naming every rank's call
            if self.scalar is not None and self.scalar.add(self.view, array):
                return
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


# struct codes of NumPy's native numbers, by kind and size ("l" would be 4 bytes in struct's "=" sizes)
_STRUCT_CODES = {("f", 2): "e", ("f", 4): "f", ("f", 8): "d", ("i", 1): "b", ("i", 2): "h", ("i", 4): "i",
                 ("i", 8): "q", ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q"}


class _ScalarSum:
    """Two ranks' sum of one number as Python numbers, packed with struct: no NumPy call.
    ``fill`` packs a slot's header and number at once; ``add`` writes the sum of both slots'
    numbers into the result, with the same bits as NumPy's addition: two float16/float32
    numbers added in double and rounded once give their correctly rounded sum (double has
    more than twice their precision). Where the Python number does not fit (an integer that
    wraps, a float that rounds to infinity) or the result is not one writable block, ``add``
    returns False and NumPy adds instead."""

    __slots__ = ("fill", "unpack", "pack")

    def __init__(self, dtype):
        code = _STRUCT_CODES[dtype.kind, dtype.itemsize]
        self.fill = struct.Struct(f"=qq{code}").pack_into
        gap = SLOT_BYTES - dtype.itemsize  # from the end of rank 0's number to rank 1's
        self.unpack = struct.Struct(f"={HEADER_BYTES}x{code}{gap}x{code}").unpack_from
        self.pack = struct.Struct(f"={code}").pack_into

    def add(self, view, out):
        first, second = self.unpack(view)
        try:
            self.pack(out, 0, first + second)
        except _UNFIT:
            return False
        return True


# what struct raises for a number that does not fit its code, or a result it cannot write into
_UNFIT = (struct.error, OverflowError, TypeError, ValueError, BufferError)


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
