"""The MPI communicator (mpi4py): non-blocking collectives on contiguous buffers.

Every collective is started non-blocking (Iallreduce on MPI.IN_PLACE, Ibcast, ...) and
finished by the Waiter, which polls it, so a collective that waits too long is reported
with the ranks that have not arrived. Blocking calls are "start, then wait". GPU arrays go
through DeviceBuffers (stream synchronized first; direct to a CUDA-aware MPI, else staged
through pinned host memory). Every collective is checked across ranks, always: a small one
travels inside a fixed-size slot exchange whose header fingerprints the call, a larger one
after that exchange agreed (verify.py). DISTGRAD_DEBUG=1 adds a fuller check before each.
"""
import pickle
from collections import deque

import numpy

from . import debug
from .bfloat16 import bfloat16_sum
from .base import Communicator, Work
from .device_buffers import DeviceBuffers
from .topology import discover
from .verify import INLINE_BYTES, InlineAllReduce, PendingTransfer, Slots, reduce_rows
from .waiting import Waiter


class MPICommunicator(Communicator):
    name = "mpi"

    def __init__(self, comm=None, stall_seconds=None, debug_checks=None, world=None):
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        super().__init__(discover(self.comm, world))
        self.waiter = Waiter(self.comm.Dup(), self.topology, stall_seconds)
        self.slots = Slots(self.comm, self.rank, self.size, self.error)
        self._plans = {}  # (shape, dtype, op, element) -> InlineAllReduce
        self._unstarted = deque()  # PendingTransfers whose transfer has not started, in call order
        self.waiter.progress = self._start_due
        self.debug = debug.debug_enabled() if debug_checks is None else debug_checks
        self.seq = 0  # collectives started so far; the same count on every rank
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        self._bfloat16_sum = None
        self._device = None

    # -- the collectives ------------------------------------------------------------------
    # Each is verified across ranks (verify.py): a small one is the slot exchange itself, a
    # larger one starts its transfer once every rank's slot header agreed.
    def allreduce(self, array, op="sum", element=None):
        """Blocking all-reduce of a host array with no Work handle in between: a fixed cost of
        a few microseconds matters at 1 MB (about 150 us), so this is dist.all_reduce's path."""
        if op == "mean" or type(array) is not numpy.ndarray:
            return super().allreduce(array, op, element)
        seq, what = self.begin("all_reduce", array, op=op, element=element)
        plan = self._plans.get((array.shape, array.dtype, op, element))
        if plan is not None and not plan.busy:  # the common case first: a small all-reduce seen before
            plan.run(self.waiter, seq, what, array)
            return array
        if array.nbytes <= INLINE_BYTES:
            plan = plan or self._plan(array, op, element, what)
            if plan.busy:  # another of the same is in flight: slots of its own, still inline as on every rank
                self._inline(seq, what, array, lambda values: reduce_rows(values, op, element, array.reshape(-1))).wait()
                return array
            plan.run(self.waiter, seq, what, array)
            return array
        mpi_op = self._mpi_op(op, element)
        self._after_check(seq, what, lambda: self.comm.Iallreduce(self.MPI.IN_PLACE, array, mpi_op)).wait()
        return array

    def _start_allreduce(self, array, op, element):
        seq, what = self.begin("all_reduce", array, op=op, element=element)
        if _small(array):
            plan = self._plans.get((array.shape, array.dtype, op, element)) or self._plan(array, op, element, what)
            if not plan.busy:  # else another of the same is in flight: slots of its own
                plan.busy = True

                def finish():
                    plan.busy = False
                    plan.finish(seq, what, array)
                return Work(plan.start(seq, array).Test, finish, self.waiter, seq, what)
            return self._inline(seq, what, array, lambda values: reduce_rows(values, op, element, array.reshape(-1)))
        mpi_op = self._mpi_op(op, element)
        buf, finish = self.device.in_place(array)
        return self._after_check(seq, what, lambda: self.comm.Iallreduce(self.MPI.IN_PLACE, buf, mpi_op), finish)

    def _start_broadcast(self, array, root):
        seq, what = self.begin("broadcast", array, root=root)
        if _small(array):
            return self._inline(seq, what, array if self.rank == root else None,
                                lambda values: _put(array, values[root]), like=array)
        buf, finish = self.device.in_place(array)
        return self._after_check(seq, what, lambda: self.comm.Ibcast(buf, root=root), finish)

    def _start_allgather(self, array):
        seq, what = self.begin("all_gather", array)
        if _small(array):
            return self._inline(seq, what, array, lambda values: _rows_of(values, array.shape))
        out, finish = self.device.output(array, (self.size,) + array.shape, array.dtype)
        sent = self.device.readable(array)
        return self._after_check(seq, what, lambda: self.comm.Iallgather(sent, out), finish)

    def _start_reduce_scatter(self, array, op):
        seq, what = self.begin("reduce_scatter", array, op=op)
        shape = (array.shape[0] // self.size,) + array.shape[1:]
        if _small(array):
            def block(values):
                total = numpy.empty(array.size, array.dtype)
                reduce_rows(values, op, None, total)
                return total.reshape(array.shape)[self.rank * shape[0]:(self.rank + 1) * shape[0]].copy()
            return self._inline(seq, what, array, block)
        out, finish = self.device.output(array, shape, array.dtype)
        sent, mpi_op = self.device.readable(array), self._mpi_op(op)
        return self._after_check(seq, what, lambda: self.comm.Ireduce_scatter_block(sent, out, mpi_op), finish)

    def _start_barrier(self):
        seq, what = self.begin("barrier")
        return self._inline(seq, what, None, lambda values: None)  # the slot exchange waits for every rank

    def _start_reduce(self, array, root, op):
        seq, what = self.begin("reduce", array, root=root, op=op)
        mpi_op = self._mpi_op(op)
        if _small(array):
            def into_root(values):
                if self.rank == root:
                    reduce_rows(values, op, None, array.reshape(-1))
            return self._inline(seq, what, array, into_root)
        buf, finish = self.device.in_place(array)
        if self.rank == root:
            return self._after_check(seq, what, lambda: self.comm.Ireduce(self.MPI.IN_PLACE, buf, mpi_op, root=root),
                                     finish)
        return self._after_check(seq, what, lambda: self.comm.Ireduce(buf, None, mpi_op, root=root))

    def _start_gather(self, array, root):
        seq, what = self.begin("gather", array, root=root)
        if _small(array):
            return self._inline(seq, what, array,
                                lambda values: _rows_of(values, array.shape) if self.rank == root else None)
        out, finish = (self.device.output(array, (self.size,) + array.shape, array.dtype)
                       if self.rank == root else (None, None))
        sent = self.device.readable(array)
        return self._after_check(seq, what, lambda: self.comm.Igather(sent, out, root=root), finish)

    def _start_scatter(self, out, source, root):
        seq, what = self.begin("scatter", out, root=root)
        if _small(out) and out.nbytes * self.size <= INLINE_BYTES:
            return self._inline(seq, what, source if self.rank == root else None,
                                lambda values: _put(out, values[root][self.rank * out.size:(self.rank + 1) * out.size]),
                                like=out, count=out.size * self.size)
        buf, finish = self.device.in_place(out)
        sent = self.device.readable(source) if self.rank == root else None
        return self._after_check(seq, what, lambda: self.comm.Iscatter(sent, buf, root=root), finish)

    # Point-to-point messages are not collectives: they take no number of their own, and a
    # stall report names the last collective this rank started.
    def _start_send(self, array, dst, tag):
        buf = self.device.readable(array)
        request = self.comm.Isend(buf, dest=dst, tag=tag)

        def sent(keep=buf):  # a staged copy must live until MPI has sent it
            return None
        return Work(request.Test, sent, self.waiter, self.seq, debug.Call("send", array, dst=dst, tag=tag))

    def _start_recv(self, array, src, tag):
        """The message is matched (MPI Improbe) before it is received, so its size is known:
        one of another size raises, naming both, instead of filling part of ``array``."""
        buf, finish = self.device.in_place(array)
        status, MPI = self.MPI.Status(), self.MPI
        source = MPI.ANY_SOURCE if src is None else src
        request = None

        def test():
            nonlocal request
            if request is None:
                message = self.comm.Improbe(source, tag, status)
                if message is None:
                    return False
                sent = status.Get_count(MPI.BYTE)
                if sent != array.nbytes:
                    message.Recv(numpy.empty(sent, numpy.uint8))  # taken off the wire: nothing stays pending
                    raise self.error(f"recv: rank {status.Get_source()} sent a message of {sent} bytes (tag {tag}), "
                                     f"but the tensor to receive it ({array.dtype}, shape {tuple(array.shape)}) holds "
                                     f"{array.nbytes} bytes; send and recv need tensors of the same size and dtype")
                request = message.Irecv(buf)
            return request.Test()

        def received():
            if finish is not None:
                finish()
            return status.Get_source()
        return Work(test, received, self.waiter, self.seq, debug.Call("recv", array, src=src, tag=tag))

    def broadcast_object(self, obj, root=0):
        seq, what = self.begin("broadcast_object", root=root)
        self._exchange(seq, what)
        self._all_started(seq, what)
        data = bytearray(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)) if self.rank == root else None
        size = numpy.array([len(data) if data is not None else 0], numpy.int64)
        self._finish(self.comm.Ibcast(size, root=root), seq, what)
        buf = numpy.frombuffer(data, numpy.uint8) if data is not None else numpy.empty(size[0], numpy.uint8)
        self._finish(self.comm.Ibcast(buf, root=root), seq, what)
        return obj if self.rank == root else pickle.loads(buf.tobytes())

    def allgather_object(self, obj):
        seq, what = self.begin("all_gather_object")
        self._exchange(seq, what)
        self._all_started(seq, what)
        data = numpy.frombuffer(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL), numpy.uint8)
        sizes = numpy.empty(self.size, numpy.int64)
        self._finish(self.comm.Iallgather(numpy.array([data.size], numpy.int64), sizes), seq, what)
        offsets = numpy.concatenate([[0], numpy.cumsum(sizes)])
        out = numpy.empty(int(offsets[-1]), numpy.uint8)
        request = self.comm.Iallgatherv(data, [out, sizes, offsets[:-1], self.MPI.BYTE])
        self._finish(request, seq, what)
        return [pickle.loads(out[offsets[r]:offsets[r + 1]].tobytes()) for r in range(self.size)]

    def split(self, ranks):
        member = self.rank in ranks
        self._all_started(self.seq, debug.Call("new_group"))  # Split is a collective of the main communicator
        sub = self.comm.Split(0 if member else self.MPI.UNDEFINED, key=self.rank)
        if not member:
            return None
        return MPICommunicator(sub, self.waiter.stall_seconds, self.debug, world=self.topology)

    # -- life cycle -----------------------------------------------------------------------
    def abort(self, code=1):
        self.comm.Abort(code)

    def finalize(self):
        if self.size > 1:
            self.waiter.announce_exit()

    # -- helpers --------------------------------------------------------------------------
    def begin(self, kind, array=None, **details):
        """Number this collective; under DISTGRAD_DEBUG, check every rank is starting the same."""
        self.seq += 1
        what = debug.Call(kind, array, **details)
        if self.debug and self.size > 1:
            self._check_fingerprints(what)
        self.waiter.started(self.seq, what)
        return self.seq, what

    @property
    def device(self):
        if self._device is None:
            self._device = DeviceBuffers()
        return self._device

    def _finish(self, request, seq, what):
        self.waiter.wait(request.Test, seq, what)

    def _exchange(self, seq, what, payload=None):
        """Blocking slot exchange, checked; every rank's slot (verify.py)."""
        rows, request = self.slots.start(seq, what, payload)
        self.waiter.wait(request.Test, seq, what)
        self.slots.check(rows, seq, what)
        return rows

    confirm = _exchange  # for the NCCL communicator: check a call before launching it

    def _plan(self, array, op, element, what):
        self._mpi_op(op, element)  # refuses what MPI would not reduce, as the larger path does
        if len(self._plans) >= 64:  # shapes that keep changing: do not keep them all
            self._plans = {k: plan for k, plan in self._plans.items() if plan.busy}
        plan = self._plans[(array.shape, array.dtype, op, element)] = InlineAllReduce(self.slots, what, op, element)
        return plan

    def _inline(self, seq, what, payload, result, like=None, count=None):
        """A small collective as the slot exchange itself: ``result(values)`` makes this rank's
        result from every rank's payload (``values``: one row per rank, of ``like``'s dtype)."""
        like = payload if like is None else like
        rows, request = self.slots.start(seq, what, payload)

        def finish():
            self.slots.check(rows, seq, what)
            if like is None:
                return result(None)
            return result(self.slots.payloads(rows, like.dtype, like.size if count is None else count))
        return Work(request.Test, finish, self.waiter, seq, what)

    def _after_check(self, seq, what, start, finish=None):
        """A larger collective: the slot exchange (headers only) first; ``start()`` starts the
        transfer, and returns its request, once every rank's header agreed."""
        rows, check = self.slots.start(seq, what)
        transfer = PendingTransfer(rows, check, start, seq, what)
        self._unstarted.append(transfer)

        def test():
            if transfer.request is None:
                self._start_due()
                if transfer.request is None:
                    return False
            return transfer.request.Test()
        return Work(test, finish, self.waiter, seq, what)

    def _start_due(self):
        """Start the transfers whose headers agreed, strictly in the order they were called:
        MPI pairs the collectives of a communicator by the order they start, and a rank
        waiting in a later collective must not hold back an earlier one (the Waiter calls
        this while it polls)."""
        queue = self._unstarted
        while queue and queue[0].check.Test():
            transfer = queue.popleft()
            self.slots.check(transfer.rows, transfer.seq, transfer.what)
            transfer.request = transfer.start()

    def _all_started(self, seq, what):
        """Before a transfer started at once on the main communicator (object collectives)."""
        if self._unstarted:
            self.waiter.wait(lambda: self._start_due() or not self._unstarted, seq, what)

    def _check_fingerprints(self, what):
        rows = numpy.empty((self.size, debug.FINGERPRINT_BYTES), numpy.uint8)
        # on a communicator of its own: the main one starts transfers only once they are due
        request = self.slots.report.Iallgather(debug.encode(what.fingerprint()), rows)
        self._finish(request, self.seq, f"debug check of {what}")
        message = debug.mismatch_message(self.seq, [debug.decode(row) for row in rows])
        if message is not None:
            raise self.error(message)

    def _mpi_op(self, op, element=None):
        if element is None:
            return self._ops[op]
        if element != "bfloat16" or op != "sum":
            raise self.error(f"all_reduce: op {op!r} on {element} numbers is not supported (only 'sum')")
        if self._bfloat16_sum is None:
            self._bfloat16_sum = self.MPI.Op.Create(_bfloat16_sum_into, commute=True)
        return self._bfloat16_sum


def _small(array):
    """A host array whose collective travels inside the slot exchange."""
    return type(array) is numpy.ndarray and array.nbytes <= INLINE_BYTES


def _put(array, values):
    array.reshape(-1)[...] = values


def _rows_of(values, shape):
    """Every rank's payload as one new array of shape (size, *shape)."""
    return numpy.ascontiguousarray(values).reshape((len(values),) + shape)


def _bfloat16_sum_into(inbuf, inoutbuf, datatype):
    """MPI user-defined reduction: inoutbuf += inbuf, both bfloat16 bit patterns (uint16)."""
    a = numpy.frombuffer(inbuf, numpy.uint16)
    b = numpy.frombuffer(inoutbuf, numpy.uint16)
    b[...] = bfloat16_sum(a, b)
