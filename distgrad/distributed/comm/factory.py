"""One place that turns a backend name into a communicator.

"auto" is MPI when an MPI launcher started the process (or MPI is already initialized), else
"local", a world of one that never imports MPI. "nccl" is built on an MPI communicator, after
the caller has chosen this rank's GPU (see ``distgrad.distributed.world``).
"""
from .topology import launched_under_mpi

BACKENDS = ("auto", "local", "mpi", "nccl", "naive")


def resolve_backend(backend="auto", environ=None):
    name = "auto" if backend is None else str(backend).lower()
    if name not in BACKENDS:
        from ...utils.logging import rank_and_world_size
        rank, size = rank_and_world_size(environ)  # before init: as the launcher numbered us
        raise ValueError(f"[rank {rank}/{size}] unknown distributed backend {backend!r}: expected one of "
                         f"{', '.join(BACKENDS)}")
    if name == "auto":
        return "mpi" if launched_under_mpi(environ) else "local"
    return name


def create_communicator(backend="auto", mpi_comm=None):
    """A communicator for ``backend``; ``mpi_comm`` (an mpi4py communicator) defaults to
    COMM_WORLD. For "nccl" this is the MPI communicator to build NCCL on: call
    ``nccl_on(mpi)`` once the GPU is chosen."""
    name = resolve_backend(backend)
    if name == "local":
        from .local import LocalCommunicator
        return LocalCommunicator()
    if name == "naive":
        from .naive import NaiveCommunicator
        return NaiveCommunicator(mpi_comm)
    from .mpi import MPICommunicator
    return MPICommunicator(mpi_comm)


def nccl_on(mpi):
    from .nccl import NCCLCommunicator
    return NCCLCommunicator(mpi)
