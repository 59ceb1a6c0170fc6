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
from ..utils.ranks import launched_rank_and_size
from . import failure, liveness
from .comm.factory import create_communicator, nccl_on, resolve_backend
from .comm.topology import choose_gpu

_log = get_logger("distgrad.distributed")
_state = {"comm": None, "backend": None, "device": None, "atexit": False,
          "process_group": None}  # the backend init_process_group was asked for
_HOW_TO_LAUNCH = ("start the job with `distgrad-run -n N train.py` (torchrun's flags work: "
                  "`distgrad-run --nproc-per-node N train.py`) or `mpiexec -n N python train.py`")


def launched_world_size(environ=None):
    """How many processes the launcher says the job has: MPI's own variables, else torchrun's
    WORLD_SIZE; 1 when nothing says so."""
    environ = os.environ if environ is None else environ
    launched = launched_rank_and_size(environ)
    if launched is not None:
        return launched[1]
    try:
        return int(environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def _check_world(comm, environ=None):
    """A process told it is one of WORLD_SIZE (torchrun, a job script) must be in an MPI world
    of that size: ranks that each train alone on all the data would look like a success."""
    environ = os.environ if environ is None else environ
    expected = environ.get("WORLD_SIZE")
    if expected is None or not expected.strip().isdigit() or int(expected) == comm.size:
        return
    raise comm.error(f"init: the environment says WORLD_SIZE={expected}, but this process is in a "
                     f"world of {comm.size} rank(s) (torchrun or a plain process cannot join "
                     f"distgrad's MPI world); {_HOW_TO_LAUNCH}, or unset WORLD_SIZE to train alone")


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
    _check_world(comm)
    if comm.size > 1:  # plain mpiexec: the variables torchrun scripts read, from now on
        for var, value in (("RANK", comm.rank), ("WORLD_SIZE", comm.size),
                           ("LOCAL_RANK", comm.local_rank), ("LOCAL_WORLD_SIZE", comm.local_size)):
            os.environ.setdefault(var, str(value))
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


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, **kwargs):
    """torch.distributed.init_process_group over MPI: the launcher decides world size and rank,
    so ``world_size``/``rank``, when given, must agree with it. A world already started by
    first use (or ``init``) is adopted; a second call raises, as PyTorch's. ``timeout``, the
    store and device arguments are accepted (PyTorch's positions) and unused: lost peers are
    found by heartbeats (DISTGRAD_PEER_TIMEOUT), slow ones reported by the stall warning."""
    if _state["process_group"] is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    asked = "auto" if backend is None else str(backend).lower()
    # gloo is "auto": MPI under a launcher, and a plain process stays a world of one (no MPI)
    comm = init("auto" if asked == "gloo" else asked)
    for what, given, actual in (("world_size", world_size, comm.size), ("rank", rank, comm.rank)):
        if given is not None and given != -1 and given != actual:
            raise comm.error(f"init_process_group: {what}={given} but the launcher started this "
                             f"process as {what} {actual}; leave {what} out (it comes from the "
                             f"launch) or {_HOW_TO_LAUNCH}", ValueError)
    if asked == "gloo" and _state["backend"] != "local":
        _log.info("init_process_group: backend 'gloo' runs over MPI in distgrad")
    _state["process_group"] = _state["backend"] if asked == "auto" else asked
    return None


def get_backend(group=None):
    """The backend init_process_group was asked for ('gloo' runs over MPI), else the one in use."""
    communicator()
    return _state["process_group"] or _state["backend"]


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
    _state.update(comm=None, backend=None, device=None, process_group=None)
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
