"""Communicators: small strategies behind one factory (local, mpi, nccl, naive)."""
from .base import REDUCE_OPS, Communicator, Work
from .factory import BACKENDS, create_communicator, resolve_backend
from .topology import Topology

__all__ = ["BACKENDS", "REDUCE_OPS", "Communicator", "Topology", "Work", "create_communicator",
           "resolve_backend"]
