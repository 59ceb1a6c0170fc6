"""The MPI communicator (mpi4py): non-blocking collectives on contiguous buffers.

Every collective is started non-blocking (Iallreduce on MPI.IN_PLACE, Ibcast, ...) and
finished by the Waiter, which polls it, so a collective that waits too long is reported
with the ranks that have not arrived. Blocking calls are "start, then wait". GPU arrays go
through DeviceBuffers (stream synchronized first; direct to a CUDA-aware MPI, else staged
through pinned host memory). With DISTGRAD_DEBUG=1 each collective's fingerprint is checked
across ranks before it starts.
"""
import pickle

import numpy

from . import debug
from .bfloat16 import bfloat16_sum
from .base import Communicator, Work
from .device_buffers import DeviceBuffers
from .topology import discover
from .waiting import Waiter


class MPICommunicator(Communicator):
    name = "mpi"

    def __init__(self, comm=None, stall_seconds=None, debug_checks=None, world=None):
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        super().__init__(discover(self.comm, world))
        self.waiter = Waiter(self.comm.Dup(), self.topology, stall_seconds)
        self.debug = debug.debug_enabled() if debug_checks is None else debug_checks
        self.seq = 0  # collectives started so far; the same count on every rank
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        self._bfloat16_sum = None
        self._device = None

    # -- the collectives ------------------------------------------------------------------
    def allreduce(self, array, op="sum", element=None):
        """Blocking all-reduce of a host array with no Work handle in between: a fixed cost of
        a few microseconds matters at 1 MB (about 150 us), so this is dist.all_reduce's path."""
        if op == "mean" or not isinstance(array, numpy.ndarray):
            return super().allreduce(array, op, element)
        seq, what = self.begin("all_reduce", array, op=op, element=element)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, array, self._mpi_op(op, element))
        self.waiter.wait(request.Test, seq, what)
        return array

    def _start_allreduce(self, array, op, element):
        seq, what = self.begin("all_reduce", array, op=op, element=element)
        buf, finish = self.device.in_place(array)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, self._mpi_op(op, element))
        return Work(request.Test, finish, self.waiter, seq, what)

    def _start_broadcast(self, array, root):
        seq, what = self.begin("broadcast", array, root=root)
        buf, finish = self.device.in_place(array)
        request = self.comm.Ibcast(buf, root=root)
        return Work(request.Test, finish, self.waiter, seq, what)

    def _start_allgather(self, array):
        seq, what = self.begin("all_gather", array)
        out, finish = self.device.output(array, (self.size,) + array.shape, array.dtype)
        request = self.comm.Iallgather(self.device.readable(array), out)
        return Work(request.Test, finish, self.waiter, seq, what)

    def _start_reduce_scatter(self, array, op):
        seq, what = self.begin("reduce_scatter", array, op=op)
        shape = (array.shape[0] // self.size,) + array.shape[1:]
        out, finish = self.device.output(array, shape, array.dtype)
        request = self.comm.Ireduce_scatter_block(self.device.readable(array), out, self._mpi_op(op))
        return Work(request.Test, finish, self.waiter, seq, what)

    def _start_barrier(self):
        seq, what = self.begin("barrier")
        request = self.comm.Ibarrier()
        return Work(request.Test, None, self.waiter, seq, what)

    def _start_reduce(self, array, root, op):
        seq, what = self.begin("reduce", array, root=root, op=op)
        buf, finish = self.device.in_place(array)
        mpi_op = self._mpi_op(op)
        if self.rank == root:
            request = self.comm.Ireduce(self.MPI.IN_PLACE, buf, mpi_op, root=root)
        else:
            request, finish = self.comm.Ireduce(buf, None, mpi_op, root=root), None
        return Work(request.Test, finish, self.waiter, seq, what)

    def _start_gather(self, array, root):
        seq, what = self.begin("gather", array, root=root)
        out, finish = (self.device.output(array, (self.size,) + array.shape, array.dtype)
                       if self.rank == root else (None, None))
        request = self.comm.Igather(self.device.readable(array), out, root=root)
        return Work(request.Test, finish, self.waiter, seq, what)

    def _start_scatter(self, out, source, root):
        seq, what = self.begin("scatter", out, root=root)
        buf, finish = self.device.in_place(out)
        sent = self.device.readable(source) if self.rank == root else None
        request = self.comm.Iscatter(sent, buf, root=root)
        return Work(request.Test, finish, self.waiter, seq, what)

    # Point-to-point messages are not collectives: they take no number of their own, and a
    # stall report names the last collective this rank started.
    def _start_send(self, array, dst, tag):
        buf = self.device.readable(array)
        request = self.comm.Isend(buf, dest=dst, tag=tag)

        def sent(keep=buf):  # a staged copy must live until MPI has sent it
            return None
        return Work(request.Test, sent, self.waiter, self.seq, debug.Call("send", array, dst=dst, tag=tag))

    def _start_recv(self, array, src, tag):
        buf, finish = self.device.in_place(array)
        status = self.MPI.Status()
        source = self.MPI.ANY_SOURCE if src is None else src
        request = self.comm.Irecv(buf, source=source, tag=tag)

        def received():
            if finish is not None:
                finish()
            return status.Get_source()
        return Work(lambda: request.Test(status), received, self.waiter, self.seq,
                    debug.Call("recv", array, src=src, tag=tag))

    def broadcast_object(self, obj, root=0):
        seq, what = self.begin("broadcast_object", root=root)
        data = bytearray(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)) if self.rank == root else None
        size = numpy.array([len(data) if data is not None else 0], numpy.int64)
        self._finish(self.comm.Ibcast(size, root=root), seq, what)
        buf = numpy.frombuffer(data, numpy.uint8) if data is not None else numpy.empty(size[0], numpy.uint8)
        self._finish(self.comm.Ibcast(buf, root=root), seq, what)
        return obj if self.rank == root else pickle.loads(buf.tobytes())

    def allgather_object(self, obj):
        seq, what = self.begin("all_gather_object")
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

    def _check_fingerprints(self, what):
        rows = numpy.empty((self.size, debug.FINGERPRINT_BYTES), numpy.uint8)
        request = self.comm.Iallgather(debug.encode(what.fingerprint()), rows)
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


def _bfloat16_sum_into(inbuf, inoutbuf, datatype):
    """MPI user-defined reduction: inoutbuf += inbuf, both bfloat16 bit patterns (uint16)."""
    a = numpy.frombuffer(inbuf, numpy.uint16)
    b = numpy.frombuffer(inoutbuf, numpy.uint16)
    b[...] = bfloat16_sum(a, b)
