"""Start a benchmark under the MPI that belongs to this Python (the mpiexec beside sys.executable)."""
import os
import shutil
import subprocess
import sys


def mpiexec_path():
    """The mpiexec installed next to the running interpreter (MPICH from PyPI), else the one on PATH.
    Mixing an mpiexec from another MPI with this mpi4py would start N worlds of one."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.exists(beside):
        return beside
    found = shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("mpiexec not found next to %s nor on PATH: install mpich (pip install mpich)"
                           % sys.executable)
    return found


def one_thread_env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_mpi(n, script, args=(), timeout=600, env=None):
    """Run ``python script args`` on ``n`` ranks; return its stdout, raise with stderr on failure."""
    cmd = [mpiexec_path(), "-n", str(n), sys.executable, script, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else one_thread_env())
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s\n%s" % (" ".join(cmd), proc.returncode,
                                                          proc.stdout[-4000:], proc.stderr[-4000:]))
    return proc.stdout
