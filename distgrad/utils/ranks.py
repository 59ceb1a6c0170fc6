"""Which rank a process is, as the MPI launcher says before MPI starts, and how every message
of a rank starts. Standard library only and importing nothing of distgrad, so logging, the
process world and the data layer can all use it.
"""
import os
from typing import NamedTuple, Optional


class LauncherVariables(NamedTuple):
    launcher: str
    rank: str            # this process's rank in the job
    size: Optional[str]  # the job's number of ranks (None: this launcher sets no such variable)


# What MPI launchers set in every process they start. Any of these present means "started by
# an MPI launcher"; the pairs also give rank and size before MPI is initialized.
LAUNCHERS = (
    LauncherVariables("MPICH/Hydra, Intel MPI", "PMI_RANK", "PMI_SIZE"),
    LauncherVariables("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    LauncherVariables("PMIx (srun --mpi=pmix)", "PMIX_RANK", None),
)
# Hydra also sets the number of ranks on this host: a launch marker, not the world size.
HOST_RANK_COUNT = "MPI_LOCALNRANKS"
LAUNCHER_VARIABLES = tuple(name for entry in LAUNCHERS for name in (entry.rank, entry.size) if name) + \
    (HOST_RANK_COUNT,)


def _environ(environ):
    return os.environ if environ is None else environ


def started_by_launcher(environ=None):
    """True when any launcher variable is set (the process was started by mpiexec, srun, ...)."""
    environ = _environ(environ)
    return any(name in environ for name in LAUNCHER_VARIABLES)


def launched_rank_and_size(environ=None):
    """(rank, size) from the first launcher whose rank and size variables are both set and
    numbers, else None."""
    environ = _environ(environ)
    for entry in LAUNCHERS:
        if entry.size and entry.rank in environ and entry.size in environ:
            try:
                return int(environ[entry.rank]), int(environ[entry.size])
            except ValueError:
                continue
    return None


def format_prefix(rank, size, host, group_rank=None, group_size=None):
    """``[rank r/N host]``, the start of every error, warning and log line of a rank (world
    rank first); in a process group ``[rank r/N host, group rank g/M]``."""
    group = "" if group_rank is None else f", group rank {group_rank}/{group_size}"
    return f"[rank {rank}/{size} {host}{group}]"
