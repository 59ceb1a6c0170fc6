"""Rank-aware logging in a real two-rank job started by distgrad-run (the in-process cases are
in tests/unit/test_logging.py)."""
import os
import socket
import subprocess
import sys

import pytest

from distgrad.utils.ranks import LAUNCHER_VARIABLES

# A rank or logging setting of the shell running the tests would change what the job prints.
RANK_VARS = LAUNCHER_VARIABLES + ("DISTGRAD_LOG_ALL_RANKS", "DISTGRAD_DEBUG")


@pytest.mark.timeout(60)
def test_under_a_real_two_rank_launch(tmp_path, mpiexec):
    script = tmp_path / "job.py"
    script.write_text("from distgrad.utils.logging import get_logger\n"
                      "log = get_logger('job')\n"
                      "log.info('only once')\n"
                      "log.warning('from each rank')\n")
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARS}
    env["OMP_NUM_THREADS"] = "1"  # else the launcher says it chose one thread per rank
    done = subprocess.run([sys.executable, "-m", "distgrad.run", "-n", "2", str(script)],
                          capture_output=True, text=True, timeout=50, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    host = socket.gethostname()  # before init the host is the machine's name, as MPI's would be
    assert sorted(done.stderr.splitlines()) == [
        f"[rank 0/2 {host}] WARNING: from each rank", f"[rank 0/2 {host}] only once",
        f"[rank 1/2 {host}] WARNING: from each rank"]
