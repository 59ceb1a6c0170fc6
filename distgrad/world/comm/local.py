"""A world of one process: every collective is an identity and nothing imports MPI.

``python train.py`` runs through exactly the same code as ``mpiexec -n 8 python train.py``;
only the communicator changes, so every argument check still runs.
"""
import copy

from .base import Communicator, Work
from .topology import single_process


class LocalCommunicator(Communicator):
    name = "local"

    def __init__(self, topology=None):
        super().__init__(topology or single_process())

    def _start_allreduce(self, array, op, element):
        return Work.completed()

    def _start_broadcast(self, array, root):
        return Work.completed()

    def _start_allgather(self, array):
        return Work.completed(array.reshape((1,) + array.shape).copy())

    def _start_reduce_scatter(self, array, op):
        return Work.completed(array.copy())

    def _start_barrier(self):
        return Work.completed()

    def _start_reduce(self, array, root, op):
        return Work.completed()

    def _start_gather(self, array, root):
        return Work.completed(array.reshape((1,) + array.shape).copy())

    def _start_scatter(self, out, source, root):
        out[...] = source[0]
        return Work.completed()

    def _start_send(self, array, dst, tag):
        raise self.error("send: a world of one has no other rank to send to")

    def _start_recv(self, array, src, tag):
        raise self.error("recv: a world of one has no other rank to receive from")

    def split(self, ranks):
        return self  # the only group of a world of one is the world

    def broadcast_object(self, obj, root=0):
        return obj

    def allgather_object(self, obj):
        # A copy, as a real exchange would give: callers may change what they receive.
        return [copy.deepcopy(obj)]
