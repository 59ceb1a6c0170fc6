"""A torchrun script under distgrad-run: it reads RANK/LOCAL_RANK/WORLD_SIZE at its top (before
importing distgrad) and calls init_process_group("gloo"); a process told WORLD_SIZE=2 without
an MPI world stops with how to launch it."""
import subprocess
import sys
import textwrap

import pytest

TORCHRUN_SCRIPT = """
    import os, sys
    local_rank = int(os.environ["LOCAL_RANK"])   # torchrun scripts read these first
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    import distgrad.distributed as dist
    from distgrad.data import DistributedSampler
    sampler = DistributedSampler(range(6), shuffle=False)  # before the process group
    dist.init_process_group("gloo")
    assert (dist.get_rank(), dist.get_world_size(), dist.get_local_rank()) == (rank, world, local_rank)
    names = ("LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK", "MASTER_ADDR", "MASTER_PORT",
             "TORCHELASTIC_RESTART_COUNT")
    os.write(1, (f"rank {rank} local {local_rank} world {world} backend {dist.get_backend()} "
                 f"share {list(sampler)} args {sys.argv[1:]} "
                 + " ".join(f"{n}={os.environ[n]}" for n in names) + "\\n").encode())
"""


def _script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(TORCHRUN_SCRIPT))
    return path


@pytest.mark.timeout(90)
def test_a_torchrun_script_runs_on_two_ranks(tmp_path, job_env, mpiexec):
    done = subprocess.run([sys.executable, "-m", "distgrad.run", "--standalone", "--nnodes=1",
                           "--nproc-per-node=2", "--master-port", "29511", _script(tmp_path), "--x"],
                          capture_output=True, text=True, timeout=80,
                          # a rank ending right after init can race the heartbeat links'
                          # goodbye (exit 75, about 1 run in 15, also without distgrad-run)
                          env=dict(job_env, DISTGRAD_LIVENESS="0"),
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = sorted(line for line in done.stdout.splitlines() if line.startswith("rank "))
    common = ("args ['--x'] LOCAL_WORLD_SIZE=2 GROUP_RANK=0 ROLE_RANK={r} MASTER_ADDR=127.0.0.1 "
              "MASTER_PORT=29511 TORCHELASTIC_RESTART_COUNT=0")
    assert lines == [
        "rank 0 local 0 world 2 backend gloo share [0, 2, 4] " + common.format(r=0),
        "rank 1 local 1 world 2 backend gloo share [1, 3, 5] " + common.format(r=1)]
    assert "'gloo' runs over MPI" in done.stderr


@pytest.mark.timeout(60)
def test_a_plain_process_told_world_size_2_stops_saying_how_to_launch(tmp_path, job_env):
    env = dict(job_env, WORLD_SIZE="2", RANK="0", LOCAL_RANK="0")
    done = subprocess.run([sys.executable, _script(tmp_path)], capture_output=True, text=True,
                          timeout=50, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "WORLD_SIZE=2" in done.stderr and "distgrad-run" in done.stderr, done.stderr
    assert "rank 0" not in done.stdout  # it never trained alone
