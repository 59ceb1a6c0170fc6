"""The job's process world: init, backend, local rank, barrier, finalize (rank and size,
which may be asked of a process group, are in groups.py).

Everything in distgrad.distributed goes through ``communicator()``, which initializes with
backend "auto" on first use, so ``python train.py`` just works as a world of one (no MPI
imported) and ``mpiexec -n 4 python train.py`` as four ranks, without a call to init().
"""
import atexit
import os

from ..backend import cuda
from ..utils.logging import get_logger
from . import failure, liveness
from .comm.factory import create_communicator, nccl_on, resolve_backend
from .comm.topology import choose_gpu

_log = get_logger("distgrad.distributed")
_state = {"comm": None, "backend": None, "device": None, "atexit": False}


def init(backend="auto"):
    """Start the distributed world: "auto" (MPI under an MPI launcher, else a world of one),
    "mpi", "nccl" (GPU arrays over NCCL, the rest over MPI), "local" or "naive" (the slow
    reference communicator). Returns the communicator. Calling it again is a no-op."""
    comm = _state["comm"]
    if comm is not None:
        if backend in (None, "auto") or resolve_backend(backend) == _state["backend"]:
            return comm
        raise comm.error(f"distributed is already initialized with backend {_state['backend']!r}; "
                         f"call finalize() before init({backend!r})")
    name = resolve_backend(backend)
    comm = create_communicator(name)
    device = None if name == "local" else _bind_gpu(comm)
    if name == "nccl":
        if device is None:
            raise comm.error("backend 'nccl' needs a GPU, but CUDA is not available here; "
                             "use backend 'mpi' (or 'auto') on CPU-only machines")
        comm = nccl_on(comm)
    _state.update(comm=comm, backend=name, device=device)
    if comm.size > 1:
        failure.install(comm)
        liveness.start(comm)  # a lost peer (crashed host, cut link) ends the job, not a hang
        _announce(comm, device, name)
    if not _state["atexit"]:
        atexit.register(finalize)
        _state["atexit"] = True
    return comm


def communicator():
    """The communicator of this job, initializing with "auto" on first use."""
    comm = _state["comm"]
    return comm if comm is not None else init("auto")


def is_initialized():
    return _state["comm"] is not None


def is_available():
    return True


def get_backend():
    communicator()
    return _state["backend"]


def get_local_rank():
    """This rank's index among the ranks of its host (from MPI's shared-memory split)."""
    return communicator().local_rank


def get_local_world_size():
    return communicator().local_size


def device_index():
    """The GPU this rank was bound to at init, or None (CPU, or a world of one)."""
    communicator()
    return _state["device"]


def barrier():
    communicator().barrier()


def finalize():
    """Release the communicator and the failure hook; MPI itself ends when Python exits."""
    comm = _state["comm"]
    if comm is None:
        return
    _state.update(comm=None, backend=None, device=None)
    failure.uninstall()
    liveness.stop()
    comm.finalize()


def _bind_gpu(comm):
    if not cuda.is_available():
        return None
    allow = os.environ.get("DISTGRAD_ALLOW_GPU_SHARING", "") not in ("", "0")
    index, warning = choose_gpu(comm.topology, cuda.device_count(), allow)
    if warning:
        _log.warning(warning)
    cuda.set_device(index)
    return index


def _announce(comm, device, backend):
    where = "cpu" if device is None else f"cuda:{device}"
    rows = comm.allgather_object((comm.rank, comm.host, comm.local_rank, where))
    if comm.rank == 0:
        lines = [f"distgrad.distributed: {comm.size} ranks, backend {backend}; gradients are "
                 "averaged over ranks (global batch = ranks x per-rank batch)"]
        lines += [f"  rank {r}: host {host}, local rank {local}, device {dev}"
                  for r, host, local, dev in rows]
        _log.info("\n".join(lines))
