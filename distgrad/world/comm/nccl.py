"""The NCCL communicator (cupy.cuda.nccl) for GPU arrays; host arrays and Python objects go
through the MPI communicator it is built on.

Rank 0 makes NCCL's unique id and broadcasts it over MPI; each rank creates its NCCL
communicator after its GPU has been chosen. Collectives run on a stream of their own, after
the compute stream's work so far (an event orders them), and completion is an event too,
polled by the MPI communicator's Waiter so stalls are reported the same way. Each call is
checked across ranks over MPI (a small slot exchange, verify.py) before it is launched.
"""
from ...backend import cupy, is_gpu_array
from .base import Communicator, Work

_NCCL_BFLOAT16 = 9  # ncclBfloat16 (NCCL >= 2.10), for CuPy builds that do not name it


class NCCLCommunicator(Communicator):
    name = "nccl"

    def __init__(self, mpi):
        from cupy.cuda import nccl  # deferred: CuPy's NCCL binding is optional, needed only for backend 'nccl'

        super().__init__(mpi.topology)
        self.mpi, self.nccl = mpi, nccl
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi.broadcast_object(uid, root=0)
        self.device_id = cupy.cuda.Device().id
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self._ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}

    # Host arrays go to the MPI communicator's public entry points: ``op`` is never "mean"
    # here (Communicator turned it into a sum), so they start the same operation.
    def _start_allreduce(self, array, op, element):
        if not is_gpu_array(array):
            return self.mpi.iallreduce(array, op, element)
        seq, what = self.mpi.begin("all_reduce", array, op=op, element=element)
        self.mpi.confirm(seq, what)
        ptr = array.data.ptr
        return self._launch(lambda s: self.comm.allReduce(ptr, ptr, array.size, self._dtype(array, element),
                                                          self._ops[op], s), seq, what, keep=array)

    def _start_broadcast(self, array, root):
        if not is_gpu_array(array):
            return self.mpi.ibroadcast(array, root)
        seq, what = self.mpi.begin("broadcast", array, root=root)
        self.mpi.confirm(seq, what)
        ptr = array.data.ptr
        return self._launch(lambda s: self.comm.bcast(ptr, array.size, self._dtype(array), root, s),
                            seq, what, keep=array)

    def _start_allgather(self, array):
        if not is_gpu_array(array):
            return self.mpi.iallgather(array)
        seq, what = self.mpi.begin("all_gather", array)
        self.mpi.confirm(seq, what)
        out = cupy.empty((self.size,) + array.shape, array.dtype)
        return self._launch(lambda s: self.comm.allGather(array.data.ptr, out.data.ptr, array.size,
                                                          self._dtype(array), s), seq, what, out, array)

    def _start_reduce_scatter(self, array, op):
        if not is_gpu_array(array):
            return self.mpi.ireduce_scatter(array, op)
        seq, what = self.mpi.begin("reduce_scatter", array, op=op)
        self.mpi.confirm(seq, what)
        out = cupy.empty((array.shape[0] // self.size,) + array.shape[1:], array.dtype)
        return self._launch(lambda s: self.comm.reduceScatter(array.data.ptr, out.data.ptr, out.size,
                                                              self._dtype(array), self._ops[op], s),
                            seq, what, out, array)

    def _start_barrier(self):
        return self.mpi.ibarrier()

    # Rooted collectives and point-to-point go through MPI (GPU arrays staged as there).
    def _start_reduce(self, array, root, op):
        return self.mpi.ireduce(array, root, op)

    def _start_gather(self, array, root):
        return self.mpi.igather(array, root)

    def _start_scatter(self, out, source, root):
        return self.mpi.iscatter(out, source, root)

    def _start_send(self, array, dst, tag):
        return self.mpi.isend(array, dst, tag)

    def _start_recv(self, array, src, tag):
        return self.mpi.irecv(array, src, tag)

    def split(self, ranks):
        mpi = self.mpi.split(ranks)
        return None if mpi is None else NCCLCommunicator(mpi)  # an NCCL communicator of its own

    def broadcast_object(self, obj, root=0):
        return self.mpi.broadcast_object(obj, root)

    def allgather_object(self, obj):
        return self.mpi.allgather_object(obj)

    def abort(self, code=1):
        self.mpi.abort(code)

    def finalize(self):
        self.stream.synchronize()
        self.mpi.finalize()

    def _launch(self, call, seq, what, result=None, keep=None):
        """Run ``call(stream)`` on the NCCL stream; ``keep`` (the input) stays alive until
        the collective is done, so its memory is not reused under NCCL's feet."""
        compute = cupy.cuda.get_current_stream()
        ready = cupy.cuda.Event(disable_timing=True)
        ready.record(compute)
        self.stream.wait_event(ready)  # the data must be computed before NCCL reads it
        call(self.stream.ptr)
        done = cupy.cuda.Event(disable_timing=True)
        done.record(self.stream)

        def finish(keep=keep):
            compute.wait_event(done)  # later kernels see the reduced values
            return result
        return Work(lambda: done.done, finish, self.mpi.waiter, seq, what)

    def _dtype(self, array, element=None):
        nccl = self.nccl
        if element == "bfloat16":
            return getattr(nccl, "NCCL_BFLOAT16", _NCCL_BFLOAT16)
        table = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                 "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64,
                 "uint8": nccl.NCCL_UINT8, "int8": nccl.NCCL_INT8, "uint32": nccl.NCCL_UINT32,
                 "uint64": nccl.NCCL_UINT64, "bool": nccl.NCCL_UINT8}
        name = str(array.dtype)
        if name not in table:
            raise self.error(f"NCCL cannot reduce arrays of dtype {name}")
        return table[name]
