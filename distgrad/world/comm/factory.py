"""One place that turns a backend name into a communicator.

"auto" is MPI when an MPI launcher started the process (or MPI is already initialized), else
"local", a world of one that never imports MPI. "nccl" is built on an MPI communicator, after
the caller has chosen this rank's GPU (see ``distgrad.world.state``).
"""
from ...utils.logging import rank_prefix
from .local import LocalCommunicator
from .mpi import MPICommunicator
from .naive import NaiveCommunicator
from .nccl import NCCLCommunicator
from .topology import launched_under_mpi

BACKENDS = ("auto", "local", "mpi", "nccl", "naive")


def resolve_backend(backend="auto", environ=None):
    name = "auto" if backend is None else str(backend).lower()
    if name not in BACKENDS:
        # usually called before init: the prefix then has the rank the launcher gave us
        raise ValueError(f"{rank_prefix(environ)} unknown distributed backend {backend!r}: expected one of "
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
        return LocalCommunicator()
    if name == "naive":
        return NaiveCommunicator(mpi_comm)
    return MPICommunicator(mpi_comm)


def nccl_on(mpi):
    return NCCLCommunicator(mpi)
