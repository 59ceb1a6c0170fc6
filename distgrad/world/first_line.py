"""Liveness from the first line: a rank of an MPI job that fails before distgrad's distributed
layer starts (while it loads its config or data) ends the whole job, as one that fails later
does through failure.py.

Installed when distgrad is imported by a process an MPI launcher started as one of 2+ ranks.
What MPICH's mpiexec (Hydra) does, measured (RELIABILITY.md): a rank that exits, with any
code, before it started MPI is an ordinary exit, and the peers waiting for it inside MPI
initialisation wait forever; a rank killed by a signal ends the job at once, started MPI or
not. So a failing rank:

- with MPI started (distgrad-run's ranks, or a script that imported mpi4py) calls MPI_Abort,
  which ends every rank, keeping the exit code;
- without MPI ends itself with SIGKILL, which mpiexec answers by ending the job. Starting MPI
  first to call MPI_Abort cannot work: MPI_Init waits for every rank and holds the GIL, so a
  rank whose peers never start MPI would hang in it.

Failures covered: an uncaught exception (``sys.excepthook``: the rank's traceback, prefixed
with ``[rank r/N host]``), ``sys.exit(n)`` with n non-zero (noted on its way, acted on at
exit: a SystemExit that is caught does not end the job), and signals (mpiexec sees those).

Not covered, and why (under plain mpiexec; distgrad-run's ranks start MPI before the script):

- ``raise SystemExit(n)`` written out. CPython 3.11 hands an uncaught SystemExit to no
  Python code: not to ``sys.excepthook``, not to an audit hook, and the atexit handlers run
  without the exit status. SystemExit cannot be given a hook (a built-in type), and putting a
  subclass in its place in ``builtins`` would stop ``except SystemExit`` from catching the real
  one raised from C or from ``from sys import exit`` taken before distgrad was imported.
  Tracing every call (``sys.setprofile``) would cost every rank all its run. Python 3.12's
  ``sys.monitoring`` (RAISE and EXCEPTION_HANDLED events) could see it; this project runs 3.11.
- A rank that returns normally (exit 0) before it started MPI while a peer waits inside MPI
  initialisation. The peer leaves MPI_Init only when every rank has entered it, or when
  mpiexec ends the job. Ending the job (SIGKILL at exit) would fail every healthy job whose
  ranks never use MPI (``mpiexec -n 2 python -c "import distgrad"``): at exit a rank cannot
  tell whether a peer is waiting, since before MPI starts the ranks share no channel (the
  heartbeat links are set up through MPI). Entering MPI at exit instead (then telling a peer
  found inside the program that this rank is gone) would make every such job start MPI at
  exit, and would hang, where it now ends, a job whose other ranks never import distgrad.
  ``distgrad-run --timeout`` bounds such a job.
"""
import atexit
import os
import signal
import socket
import sys
import traceback

from ..utils.ranks import format_prefix, launched_rank_and_size
from .failure import failure_report

# The rank's own pid, for its children: they inherit the launcher's variables but are no rank
# (a subprocess, a multiprocessing or DataLoader worker), and a failure of theirs is theirs.
RANK_PROCESS = "DISTGRAD_RANK_PROCESS"
_installed = {"prefix": None, "exit": None, "code": 0, "where": "", "pid": None}


def install(environ=None):
    """Cover this process from now on, if it is one of 2+ ranks of an MPI job (idempotent)."""
    environ = os.environ if environ is None else environ
    launched = launched_rank_and_size(environ)
    if launched is None or launched[1] < 2 or _installed["prefix"] is not None:
        return False
    if environ.get(RANK_PROCESS) == str(os.getppid()):  # started by a rank
        return False
    environ[RANK_PROCESS] = str(os.getpid())
    _installed.update(prefix=format_prefix(*launched, socket.gethostname()), pid=os.getpid())
    _installed["excepthook"] = sys.excepthook
    sys.excepthook = _excepthook
    _installed["exit"] = sys.exit
    sys.exit = _noting_exit
    atexit.register(_at_exit)
    return True


def uninstall():
    if _installed["prefix"] is None:
        return
    if sys.excepthook is _excepthook:
        sys.excepthook = _installed["excepthook"]
    if sys.exit is _noting_exit:
        sys.exit = _installed["exit"]
    atexit.unregister(_at_exit)
    _installed.update(prefix=None, exit=None, code=0, where="", pid=None)


def _a_rank():
    """False in a child forked from the rank (it keeps the rank's hooks)."""
    return os.getpid() == _installed["pid"]


def _excepthook(kind, value, tb):
    if not _a_rank():
        return _installed["excepthook"](kind, value, tb)
    try:
        sys.stderr.write(failure_report(_installed["prefix"], kind, value, tb, how=_how()))
    finally:
        end_job(1)


class _NotedExit(SystemExit):
    """The SystemExit of a noted sys.exit. A handler that catches it releases it while Python
    code runs; the interpreter, ending on it, releases it with no Python frame left (just
    before the atexit handlers): only a caught one withdraws the note."""

    def __del__(self):
        if sys._getframe().f_back is not None:
            _installed.update(code=0, where="")


def _noting_exit(status=None):
    """sys.exit: note a failing status and where it came from, for ``_at_exit``."""
    code = exit_code(status)
    _installed["code"] = code
    _installed["where"] = "".join(traceback.format_stack()[:-1]) if code else ""
    raise _NotedExit(status)


def exit_code(status):
    """The process exit code a SystemExit status gives (as Python's own exit handling)."""
    if status is None:
        return 0
    return status if isinstance(status, int) else 1


def _at_exit():
    code = _installed["code"]
    if not code or not _a_rank():
        return
    prefix = _installed["prefix"]
    lines = [f"{prefix} sys.exit({code}) called (most recent call last):"]
    lines += [f"{prefix} {line}" for line in _installed["where"].splitlines()]
    lines.append(f"{prefix} sys.exit({code}) on this rank: aborting all ranks ({_how()})")
    sys.stderr.write("\n".join(lines) + "\n")
    end_job(code)


def _running_mpi():
    """mpi4py's MPI module when MPI has started in this process and not ended, else None."""
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized() else None


def _how():
    return "MPI_Abort" if _running_mpi() else "MPI has not started on this rank: SIGKILL"


def end_job(code):
    """End every rank of the job: MPI_Abort when MPI runs here, else die by SIGKILL (mpiexec
    then ends the other ranks; an exit code alone would not)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream must not keep the job alive
            pass
    mpi = _running_mpi()
    if mpi is not None:
        mpi.COMM_WORLD.Abort(code)
    os.kill(os.getpid(), signal.SIGKILL)
