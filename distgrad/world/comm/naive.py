"""The reference communicator: the most obvious code that can be right, one blocking MPI
call per array, separate send and receive buffers, GPU arrays copied through NumPy.

Too slow to train with; the fast communicators and the bucketed reducer are tested against it.
"""
import numpy

from ...backend import cupy, is_gpu_array
from .bfloat16 import bfloat16_bits_to_float32, float32_to_bfloat16_bits
from .base import Communicator, Work
from .topology import discover


class NaiveCommunicator(Communicator):
    name = "naive"

    def __init__(self, comm=None, world=None):
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does

        self.comm = MPI.COMM_WORLD if comm is None else comm
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        super().__init__(discover(self.comm, world))

    def split(self, ranks):
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does
        member = self.rank in ranks
        sub = self.comm.Split(0 if member else MPI.UNDEFINED, key=self.rank)
        return NaiveCommunicator(sub, world=self.topology) if member else None

    def _start_allreduce(self, array, op, element):
        send = _host_copy(array)
        if element == "bfloat16":  # reduce the values, round once at the end
            send = bfloat16_bits_to_float32(send)
        result = numpy.empty_like(send)
        self.comm.Allreduce(send, result, op=self._ops[op])
        if element == "bfloat16":
            result = float32_to_bfloat16_bits(result)
        _write(array, result)
        return Work.completed()

    def _start_broadcast(self, array, root):
        buf = _host_copy(array)
        self.comm.Bcast(buf, root=root)
        _write(array, buf)
        return Work.completed()

    def _start_allgather(self, array):
        out = numpy.empty((self.size,) + array.shape, array.dtype)
        self.comm.Allgather(_host_copy(array), out)
        return Work.completed(_like(array, out))

    def _start_reduce_scatter(self, array, op):
        total = numpy.empty_like(_host_copy(array))
        self.comm.Allreduce(_host_copy(array), total, op=self._ops[op])
        return Work.completed(_like(array, numpy.split(total, self.size)[self.rank].copy()))

    def _start_barrier(self):
        self.comm.Barrier()
        return Work.completed()

    def _start_reduce(self, array, root, op):
        result = numpy.empty_like(_host_copy(array)) if self.rank == root else None
        self.comm.Reduce(_host_copy(array), result, op=self._ops[op], root=root)
        if self.rank == root:
            _write(array, result)
        return Work.completed()

    def _start_gather(self, array, root):
        out = numpy.empty((self.size,) + array.shape, array.dtype) if self.rank == root else None
        self.comm.Gather(_host_copy(array), out, root=root)
        return Work.completed(_like(array, out) if out is not None else None)

    def _start_scatter(self, out, source, root):
        block = numpy.empty(out.shape, out.dtype)
        self.comm.Scatter(_host_copy(source) if self.rank == root else None, block, root=root)
        _write(out, block)
        return Work.completed()

    def _start_send(self, array, dst, tag):
        self.comm.Send(_host_copy(array), dest=dst, tag=tag)
        return Work.completed()

    def _start_recv(self, array, src, tag):
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does
        buf, status = numpy.empty(array.shape, array.dtype), MPI.Status()
        self.comm.Recv(buf, source=MPI.ANY_SOURCE if src is None else src, tag=tag, status=status)
        _write(array, buf)
        return Work.completed(status.Get_source())

    def broadcast_object(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def allgather_object(self, obj):
        return self.comm.allgather(obj)

    def abort(self, code=1):
        self.comm.Abort(code)


def _host_copy(array):
    return cupy.asnumpy(array) if is_gpu_array(array) else numpy.array(array, copy=True, order="C")


def _write(array, values):
    array[...] = cupy.asarray(values) if is_gpu_array(array) else values


def _like(array, values):
    return cupy.asarray(values) if is_gpu_array(array) else values
