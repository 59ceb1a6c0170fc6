"""Two MPI ranks share one GPU (DISTGRAD_ALLOW_GPU_SHARING=1): collectives on GPU tensors and
DDP training equal to one process on the joint batch (scripts/two_ranks_one_gpu.py). The
same script on the CPU checks the script itself wherever MPI is installed."""
import os
import subprocess
import sys

import pytest

from gpu_support import GPU_ONLY

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "two_ranks_one_gpu.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(SCRIPT)))


def run_two_ranks(device, launcher):
    env = dict(os.environ, DISTGRAD_ALLOW_GPU_SHARING="1", DISTGRAD_TEST_DEVICE=device, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([launcher, "-n", "2", sys.executable, SCRIPT], capture_output=True, text=True,
                          timeout=150, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert f"two ranks on one {device}: OK" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.timeout(180)
@pytest.mark.parametrize("device", [pytest.param("cuda", marks=GPU_ONLY), "cpu"])
def test_two_ranks_sharing_one_device(device, mpiexec):
    run_two_ranks(device, mpiexec)
