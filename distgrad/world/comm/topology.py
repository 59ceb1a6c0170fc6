"""Who is where: rank, world size, host, and the rank's place among the ranks of its host.

The local rank comes from MPI itself (a COMM_TYPE_SHARED split groups the ranks that share
memory, i.e. a host), not from launcher variables, so it is right under any launcher. The
GPU a rank uses follows from it: ``local_rank % device_count``.
"""
import socket
import sys
from dataclasses import dataclass

from ...utils.ranks import format_prefix, started_by_launcher


@dataclass(frozen=True)
class Topology:
    rank: int
    size: int
    local_rank: int
    local_size: int
    host: str
    world: "Topology" = None  # for a process group (new_group): this rank in the whole world

    @property
    def prefix(self):
        """How every message of this rank starts: ``[rank r/N host]`` (world rank first, then
        the group rank, for a process group)."""
        if self.world is not None:
            return format_prefix(self.world.rank, self.world.size, self.host, self.rank, self.size)
        return format_prefix(self.rank, self.size, self.host)


def single_process():
    """A world of one: this process alone."""
    return Topology(0, 1, 0, 1, socket.gethostname())


def discover(comm, world=None):
    """The topology of ``comm`` (an mpi4py communicator) as seen from this rank; ``world``:
    the whole world's, when ``comm`` is a process group."""
    from mpi4py import MPI  # deferred: importing mpi4py starts MPI, which a world of one never does

    shared = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        local_rank, local_size = shared.Get_rank(), shared.Get_size()
    finally:
        shared.Free()
    return Topology(comm.Get_rank(), comm.Get_size(), local_rank, local_size,
                    MPI.Get_processor_name(), world)


def launched_under_mpi(environ=None):
    """True when an MPI launcher (mpiexec, mpirun, srun) started this process, or when some
    code already initialized MPI; decided without importing MPI."""
    if started_by_launcher(environ):
        return True
    mpi = sys.modules.get("mpi4py.MPI")
    return bool(mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized())


def choose_gpu(topology, device_count, allow_sharing=False):
    """The GPU index this rank should use (``local_rank % device_count``), or None without GPUs.

    More ranks on a host than GPUs would make ranks share a GPU, which is slow and, with
    NCCL, not allowed; it is refused unless ``allow_sharing``. Returns ``(index, warning)``.
    """
    if device_count <= 0:
        return None, None
    if topology.local_size <= device_count:
        return topology.local_rank, None
    message = (f"{topology.local_size} ranks run on host {topology.host} but it has "
               f"{device_count} visible GPU(s)")
    if not allow_sharing:
        raise RuntimeError(f"{topology.prefix} {message}: start at most {device_count} ranks per "
                           "host (mpiexec -ppn), or set DISTGRAD_ALLOW_GPU_SHARING=1 to let ranks "
                           "share GPUs")
    index = topology.local_rank % device_count
    return index, f"{message}; ranks share GPUs (DISTGRAD_ALLOW_GPU_SHARING=1), rank " \
                  f"{topology.rank} uses GPU {index}"
