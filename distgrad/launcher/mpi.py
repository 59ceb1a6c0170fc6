"""Finding the installed ``mpiexec`` and telling MPICH (Hydra) from Open MPI."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

MPICH = "mpich"        # MPICH, Intel MPI and MVAPICH: all use the Hydra process manager
OPENMPI = "openmpi"
FLAVORS = (MPICH, OPENMPI)


class MPIError(RuntimeError):
    """No usable mpiexec; the message says what to install or which option to pass."""


def find_mpiexec(explicit=None, environ=None, executable=None):
    """--mpiexec, then $DISTGRAD_MPIEXEC, then the one next to this Python, then $PATH.

    The venv's own bin/ comes before $PATH because ``pip install mpich`` puts mpiexec there,
    and that one matches the MPI library mpi4py was built against.
    """
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get("DISTGRAD_MPIEXEC")
    if chosen:
        path = shutil.which(chosen)
        if path is None:
            raise MPIError(f"mpiexec {chosen!r} (from --mpiexec or DISTGRAD_MPIEXEC) "
                           "does not exist or is not executable")
        return path
    # Not resolved: in a venv, bin/python is a symlink out of the venv, but mpiexec is not.
    beside = Path(executable or sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    path = shutil.which("mpiexec", path=environ.get("PATH"))
    if path is None:
        raise MPIError("mpiexec not found next to the Python interpreter or on PATH: "
                       "install MPICH ('pip install mpich') or pass --mpiexec PATH")
    return path


def flavor_from_version(text):
    """The flavor named by ``mpiexec --version`` output, or None if it names neither."""
    lowered = text.lower()
    if "open mpi" in lowered or "openrte" in lowered or "open-mpi" in lowered:
        return OPENMPI
    if "hydra" in lowered or "mpich" in lowered or "intel(r) mpi" in lowered:
        return MPICH
    return None


def detect_flavor(mpiexec, timeout=20.0):
    try:
        done = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MPIError(f"cannot run '{mpiexec} --version' to tell which MPI it is: {e}; "
                       "pass --mpi mpich or --mpi openmpi") from None
    flavor = flavor_from_version(done.stdout + done.stderr)
    if flavor is None:
        first = (done.stdout + done.stderr).strip().splitlines()[:1]
        raise MPIError(f"{mpiexec} is neither MPICH/Hydra nor Open MPI "
                       f"(--version says {first[0] if first else 'nothing'!r}); "
                       "pass --mpi mpich or --mpi openmpi")
    return flavor
