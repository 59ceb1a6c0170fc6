"""distgrad.multiprocessing: PyTorch's torch.multiprocessing. Python's multiprocessing names
(Process, Queue, Pool, ...) as they are, and ``spawn``, which starts distgrad's ranks: they
are MPI ranks, so ``spawn(fn, args, nprocs=N)`` launches N processes under MPI, each
calling ``fn(rank, *args)``."""
import multiprocessing as _stdlib
from multiprocessing import *  # noqa: F401,F403  (torch.multiprocessing re-exports them too)

from .spawn import (ProcessContext, ProcessException, ProcessExitedException, ProcessRaisedException,
                    SpawnContext, spawn, start_processes)

_SHARING_STRATEGIES = {"file_descriptor", "file_system"}
_sharing_strategy = "file_descriptor"


def get_all_sharing_strategies():
    return set(_SHARING_STRATEGIES)


def get_sharing_strategy():
    return _sharing_strategy


def set_sharing_strategy(new_strategy):
    """Kept for torch scripts; distgrad shares no tensors between processes this way."""
    global _sharing_strategy
    if new_strategy not in _SHARING_STRATEGIES:
        raise ValueError(f"unknown sharing strategy {new_strategy!r}; one of {sorted(_SHARING_STRATEGIES)}")
    _sharing_strategy = new_strategy


__all__ = list(_stdlib.__all__) + [
    "ProcessContext", "ProcessException", "ProcessExitedException", "ProcessRaisedException", "SpawnContext",
    "get_all_sharing_strategies", "get_sharing_strategy", "set_sharing_strategy", "spawn", "start_processes"]
