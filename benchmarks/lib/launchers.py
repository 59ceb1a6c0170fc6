"""Start a benchmark module on N ranks: under the MPI that belongs to this Python (distgrad-run's
mpiexec: the one beside sys.executable before PATH's), or as N plain processes meeting through
torch.distributed's env:// rendezvous. Modules run as ``python -m benchmarks.<name>`` from the
repository root."""
import os
import socket
import subprocess
import sys

from distgrad.launcher.mpi import MPIError, find_mpiexec

from .common import ROOT


def mpiexec_or_none():
    """distgrad-run's mpiexec, or None where there is none. (An mpiexec of another MPI than this
    mpi4py's would start N worlds of one.)"""
    try:
        return find_mpiexec()
    except MPIError:
        return None


def one_thread_env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_mpi(n, module, args=(), timeout=600, env=None):
    """Run ``python -m module args`` on ``n`` ranks; return its stdout, raise with stderr on failure."""
    cmd = [find_mpiexec(), "-n", str(n), sys.executable, "-m", module, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=env if env is not None else one_thread_env())
    _check(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torch_ranks(n, module, args=(), timeout=600):
    """Run ``python -m module args`` as ``n`` processes with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set
    (what torch.distributed.init_process_group(init_method="env://") reads); return rank 0's stdout."""
    cmd = [sys.executable, "-m", module, *map(str, args)]
    port = free_port()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env=one_thread_env(RANK=r, WORLD_SIZE=n, LOCAL_RANK=r, MASTER_ADDR="127.0.0.1",
                                                 MASTER_PORT=port, GLOO_SOCKET_IFNAME="lo"))
             for r in range(n)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:  # one rank failed and the others wait on it: end them
            if proc.poll() is None:
                proc.kill()
    for code, out, err in outputs:
        _check(cmd, code, out, err)
    return outputs[0][1]


def _check(cmd, code, out, err):
    if code != 0:
        raise RuntimeError("%s failed (exit %d):\n%s\n%s" % (" ".join(cmd), code, out[-4000:], err[-4000:]))
