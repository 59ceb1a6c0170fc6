"""``spawn(fn, args, nprocs)`` with torch.multiprocessing.spawn's contract, for MPI ranks.

torch forks or spawns N Python processes that meet through a TCP store; distgrad's ranks meet
through MPI, so here the N processes are one job started by distgrad-run (mpiexec). Each
rank imports the parent's main module as multiprocessing's spawn does (as ``__mp_main__``, so
the ``if __name__ == "__main__"`` block does not run again), unpickles ``fn`` and ``args``
and calls ``fn(rank, *args)`` (distgrad/multiprocessing/_child.py). An exception in one rank
ends the whole job (mpi4py's abort on an uncaught exception) and is raised in the parent as
ProcessRaisedException carrying that rank's traceback.

Arguments travel by pickle, as with the 'spawn' start method: queues, pipes and shared
tensors made in the parent cannot reach the ranks (write results to files instead).
"""
import multiprocessing.spawn as _mp_spawn
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile

from ..launcher.command import DEFAULT_MASTER_ADDR, DEFAULT_MASTER_PORT
from ..utils.ranks import LAUNCHER_VARIABLES

_START_METHODS = ("spawn", "fork", "forkserver")
PAYLOAD = "payload.pkl"


def error_file(folder, rank):
    """Where rank ``rank`` writes the traceback of the exception that ended it."""
    return os.path.join(folder, f"error-{rank}.txt")


def first_failure_file(folder):
    """Created exclusively by the first rank to fail, holding its rank: the others fail
    after it (they are ended by it), and file times are too coarse to order them."""
    return os.path.join(folder, "first-failure")


class ProcessException(Exception):
    def __init__(self, msg, error_index, pid):
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A rank raised an exception; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A rank (or the job) ended with a non-zero exit code without a Python exception."""

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code, self.signal_name)


class ProcessContext:
    """The running job; ``join()`` waits for it (as torch's ProcessContext.join)."""

    def __init__(self, process, folder, nprocs):
        self.process, self._folder, self.nprocs = process, folder, nprocs

    def pids(self):
        return [self.process.pid]

    def join(self, timeout=None):
        """True once every rank ended well, False if still running after ``timeout`` s; raises
        ProcessRaisedException / ProcessExitedException when one failed."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        try:
            if code != 0:
                raise self._failure(code)
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)
        return True

    def _failure(self, code):
        rank = _read_first_failure(self._folder)
        if rank is not None and os.path.exists(error_file(self._folder, rank)):
            with open(error_file(self._folder, rank)) as f:
                trace = f.read()
            return ProcessRaisedException(f"\n\n-- Process {rank} terminated with the following error:\n{trace}",
                                          rank, self.process.pid)
        signal_name = None
        if code < 0:
            signal_name = signal.Signals(-code).name
        return ProcessExitedException(f"process group of {self.nprocs} rank(s) terminated with exit code {code}",
                                      0, self.process.pid, code, signal_name)


def _read_first_failure(folder):
    try:
        with open(first_failure_file(folder)) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


SpawnContext = ProcessContext  # torch's older name


def _rank_command(nprocs, folder):
    addr = os.environ.get("MASTER_ADDR", DEFAULT_MASTER_ADDR)
    port = os.environ.get("MASTER_PORT", str(DEFAULT_MASTER_PORT))
    return [sys.executable, "-m", "distgrad.run", "-n", str(nprocs), "--master-addr", addr, "--master-port", port,
            "-m", "distgrad.multiprocessing._child", folder]


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Start ``nprocs`` ranks under MPI, each running ``fn(rank, *args)``; see the module doc.
    ``daemon`` has no effect (the ranks are mpiexec's children); every start method
    starts fresh interpreters, as 'spawn' does."""
    if start_method not in _START_METHODS:
        raise ValueError(f"spawn: start_method must be one of {_START_METHODS}, got {start_method!r}")
    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"spawn: nprocs must be a positive int, got {nprocs!r}")
    if any(name in os.environ for name in LAUNCHER_VARIABLES):
        raise RuntimeError("spawn: this process is already a rank of an MPI job; either start the script "
                           "plainly (python train.py) and let spawn launch the ranks, or launch it with "
                           "distgrad-run and call fn(rank, ...) directly")
    folder = tempfile.mkdtemp(prefix="distgrad-spawn-")
    with open(os.path.join(folder, PAYLOAD), "wb") as f:
        # two pickles: the rank rebuilds the main module from the first before fn can unpickle
        preparation = _mp_spawn.get_preparation_data("distgrad-spawn")
        preparation.pop("authkey", None)  # not picklable, and the ranks open no connections back
        pickle.dump(preparation, f)
        pickle.dump((fn, tuple(args)), f)
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env.setdefault("OMP_NUM_THREADS", "1")
    sys.stdout.flush()
    sys.stderr.flush()
    context = ProcessContext(subprocess.Popen(_rank_command(nprocs, folder), env=env, stdin=subprocess.DEVNULL),
                             folder, nprocs)
    if not join:
        return context
    context.join()


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    return start_processes(fn, args, nprocs, join, daemon, start_method)
