"""What every communicator offers: collectives on raw arrays (NumPy or CuPy), each started
without blocking and finished through a Work handle, plus small Python objects.

Communicators are small strategies (local, mpi, nccl, naive) behind one factory; the Tensor
API in ``distgrad.distributed.collectives`` and the gradient reducer only talk to this
interface. In-place collectives (all-reduce, broadcast) write into the array they are given;
the others hand their result back from ``Work.wait()``.
"""
import os

from .topology import Topology

REDUCE_OPS = ("sum", "mean", "max", "min")


class Work:
    """Handle of a collective in flight: ``wait()`` blocks until it is done and returns its
    result (None for in-place collectives); ``is_completed()`` asks without blocking."""

    __slots__ = ("_test", "_finish", "_waiter", "_done", "_result", "seq", "what")

    def __init__(self, test, finish=None, waiter=None, seq=0, what=""):
        self._test, self._finish, self._waiter = test, finish, waiter
        self._done, self._result = False, None
        self.seq, self.what = seq, what

    @classmethod
    def completed(cls, result=None):
        work = cls(None)
        work._done, work._result = True, result
        return work

    def is_completed(self):
        if not self._done and self._test():
            self._complete()
        return self._done

    def wait(self):
        if not self._done:
            if self._waiter is not None:
                self._waiter.wait(self._test, self.seq, self.what)
            else:
                while not self._test():
                    pass
            self._complete()
        return self._result

    def result(self):
        return self.wait()

    def then(self, fn):
        """Run ``fn(result)`` once this completes; a value it returns becomes the result."""
        if self._done:
            out = fn(self._result)
            self._result = self._result if out is None else out
            return self
        previous = self._finish

        def finish():
            result = previous() if previous is not None else None
            out = fn(result)
            return result if out is None else out
        self._finish = finish
        return self

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._result = self._finish()
            self._finish = self._test = None


class Communicator:
    """A group of ranks that can run collectives together.

    Subclasses implement the ``_start_*`` methods; ``op`` is one of REDUCE_OPS already
    checked, except "mean", which is done here as a sum followed by a division. ``element``
    is "bfloat16" when a uint16 array holds bfloat16 numbers (compressed gradients).
    """

    name = "base"
    world_ranks = None  # for a process group: the world rank of each of its ranks

    def __init__(self, topology: Topology):
        self.topology = topology
        self.rank, self.size = topology.rank, topology.size
        self.local_rank, self.local_size = topology.local_rank, topology.local_size
        self.host = topology.host

    # -- array collectives: each returns a Work -------------------------------------------
    def iallreduce(self, array, op="sum", element=None):
        """Reduce ``array`` across ranks, in place."""
        if op != "mean":
            return self._start_allreduce(array, op, element)
        self._check_mean("all_reduce", array, element)
        work = self._start_allreduce(array, "sum", element)
        if self.size == 1:
            return work
        return work.then(lambda _: _divide_in_place(array, self.size))

    def ibroadcast(self, array, root=0):
        """Overwrite ``array`` with rank ``root``'s, in place."""
        return self._start_broadcast(array, root)

    def iallgather(self, array):
        """Result: an array of shape ``(size, *array.shape)``; row r is rank r's array."""
        return self._start_allgather(array)

    def ireduce_scatter(self, array, op="sum"):
        """``array`` is split along axis 0 into ``size`` equal blocks; the result is the
        reduction of block ``rank`` over all ranks."""
        if array.ndim == 0 or array.shape[0] % self.size:
            raise self.error(f"reduce_scatter: the first dimension of an array of shape "
                             f"{tuple(array.shape)} does not split into {self.size} equal blocks")
        if op != "mean":
            return self._start_reduce_scatter(array, op)
        self._check_mean("reduce_scatter", array)
        return self._start_reduce_scatter(array, "sum").then(
            lambda chunk: _divide_in_place(chunk, self.size))

    def ibarrier(self):
        return self._start_barrier()

    # -- rooted collectives and point-to-point: each returns a Work ------------------------
    def ireduce(self, array, root, op="sum"):
        """Reduce ``array`` across ranks into rank ``root``'s array, in place; the other
        ranks' arrays are left as they are."""
        if op != "mean":
            return self._start_reduce(array, root, op)
        self._check_mean("reduce", array)
        work = self._start_reduce(array, root, "sum")
        if self.rank != root or self.size == 1:
            return work
        return work.then(lambda _: _divide_in_place(array, self.size))

    def igather(self, array, root):
        """Result on ``root``: shape ``(size, *array.shape)``, row r from rank r; elsewhere None."""
        return self._start_gather(array, root)

    def iscatter(self, out, source, root):
        """Every rank's ``out`` receives block ``rank`` of ``source`` (given on ``root`` only,
        shape ``(size, *out.shape)``)."""
        return self._start_scatter(out, source, root)

    def isend(self, array, dst, tag=0):
        return self._start_send(array, dst, tag)

    def irecv(self, array, src=None, tag=0):
        """Fill ``array`` with a message from rank ``src`` (any rank when None); the result is
        the sender's rank."""
        return self._start_recv(array, src, tag)

    # -- blocking conveniences ----------------------------------------------------------
    def allreduce(self, array, op="sum", element=None):
        self.iallreduce(array, op, element).wait()
        return array

    def broadcast(self, array, root=0):
        self.ibroadcast(array, root).wait()
        return array

    def allgather(self, array):
        return self.iallgather(array).wait()

    def reduce_scatter(self, array, op="sum"):
        return self.ireduce_scatter(array, op).wait()

    def barrier(self):
        self.ibarrier().wait()

    # -- process groups -----------------------------------------------------------------
    def split(self, ranks):
        """A communicator of ``ranks`` (sorted ranks of this one) on its members, None on
        the others. Every rank calls it with the same ranks."""
        raise NotImplementedError

    # -- small Python objects (picklable; within one job only) --------------------------
    def broadcast_object(self, obj, root=0):
        raise NotImplementedError

    def allgather_object(self, obj):
        raise NotImplementedError

    # -- life cycle -------------------------------------------------------------------
    def abort(self, code=1):
        os._exit(code)

    def finalize(self):
        pass

    # -- helpers ------------------------------------------------------------------------
    @property
    def prefix(self):
        return self.topology.prefix

    def error(self, message, cls=RuntimeError):
        """An exception whose message names this rank."""
        return cls(f"{self.prefix} {message}")

    def _check_mean(self, what, array, element=None):
        if array.dtype.kind not in "fc" and element is None:
            raise self.error(f"{what}(op='mean') needs a floating point array, got dtype "
                             f"{array.dtype}; use op='sum' for integers")

    def _start_allreduce(self, array, op, element):
        raise NotImplementedError

    def _start_broadcast(self, array, root):
        raise NotImplementedError

    def _start_allgather(self, array):
        raise NotImplementedError

    def _start_reduce_scatter(self, array, op):
        raise NotImplementedError

    def _start_barrier(self):
        raise NotImplementedError

    def _start_reduce(self, array, root, op):
        raise NotImplementedError

    def _start_gather(self, array, root):
        raise NotImplementedError

    def _start_scatter(self, out, source, root):
        raise NotImplementedError

    def _start_send(self, array, dst, tag):
        raise NotImplementedError

    def _start_recv(self, array, src, tag):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} rank {self.rank} of {self.size} on {self.host}>"


def _divide_in_place(array, n):
    array /= n
