"""Handing GPU (CuPy) arrays to MPI.

Kernels run asynchronously, so the stream that produced an array is synchronized before MPI
reads it. A CUDA-aware MPI then gets the device pointer itself; any other MPI gets a copy in
pinned (page-locked) host memory, which is copied back to the device when the collective
completes. CUDA awareness is asked from the MPI library when it can tell
(MPIX_Query_cuda_support, Open MPI and MVAPICH; MPIX_GPU_query_support, MPICH 4) and can be
forced with DISTGRAD_CUDA_AWARE_MPI=1 or 0.
"""
import ctypes
import os

import numpy

from ...backend import cupy, is_gpu_array


def mpi_is_cuda_aware(environ=None):
    environ = os.environ if environ is None else environ
    forced = environ.get("DISTGRAD_CUDA_AWARE_MPI")
    if forced is not None:
        return forced not in ("", "0")
    try:
        from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does
        library = ctypes.CDLL(MPI.__file__)
    except OSError:
        return False
    query = getattr(library, "MPIX_Query_cuda_support", None)
    if query is not None:
        return bool(query())
    query = getattr(library, "MPIX_GPU_query_support", None)
    if query is not None:
        supported = ctypes.c_int(0)
        # MPIX_GPU_SUPPORT_CUDA is 0 in MPICH's mpi_proto.h
        return query(0, ctypes.byref(supported)) == 0 and bool(supported.value)
    return False


class DeviceBuffers:
    def __init__(self, cuda_aware=None):
        self.cuda_aware = mpi_is_cuda_aware() if cuda_aware is None else cuda_aware

    def readable(self, array):
        """A buffer MPI may read ``array`` from."""
        if not is_gpu_array(array):
            return array
        cupy.cuda.get_current_stream().synchronize()
        return array if self.cuda_aware else self._to_pinned(array)

    def in_place(self, array):
        """``(buffer, finish)``: MPI works on ``buffer``; ``finish()`` puts the result into
        ``array`` once the collective has completed (None when nothing needs copying)."""
        if not is_gpu_array(array):
            return array, None
        cupy.cuda.get_current_stream().synchronize()
        if self.cuda_aware:
            return array, None
        host = self._to_pinned(array)
        return host, lambda: array.set(host)

    def output(self, like, shape, dtype):
        """``(buffer, finish)`` for a new result on ``like``'s device; finish() returns it."""
        if not is_gpu_array(like):
            out = numpy.empty(shape, dtype)
            return out, lambda: out
        if self.cuda_aware:
            out = cupy.empty(shape, dtype)
            return out, lambda: out
        host = self.pinned(shape, dtype)
        return host, lambda: cupy.asarray(host)

    @staticmethod
    def pinned(shape, dtype):
        count = int(numpy.prod(shape, dtype=numpy.int64))
        memory = cupy.cuda.alloc_pinned_memory(max(1, count) * numpy.dtype(dtype).itemsize)
        return numpy.frombuffer(memory, dtype, count).reshape(shape)  # keeps memory alive

    def _to_pinned(self, array):
        host = self.pinned(array.shape, array.dtype)
        array.get(out=host)
        return host
