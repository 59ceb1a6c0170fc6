"""A plain ``python`` process is a world of one that never imports MPI (checked in a fresh
interpreter: this one may have imported mpi4py already; the in-process cases are in
tests/unit/test_distributed_local.py)."""
import subprocess
import sys

import pytest


@pytest.mark.timeout(60)
def test_plain_python_never_imports_mpi(job_env):
    code = ("import sys, distgrad as dg, distgrad.nn as nn, distgrad.distributed as dist\n"
            "assert dist.get_world_size() == 1 and dist.get_rank() == 0 and dist.get_backend() == 'local'\n"
            "m = dist.DistributedDataParallel(nn.Linear(2, 2))\n"
            "t = dg.ones(2); dist.all_reduce(t); dist.barrier()\n"
            "assert 'mpi4py' not in sys.modules, sorted(k for k in sys.modules if 'mpi' in k)\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], env=job_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
