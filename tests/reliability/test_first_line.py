"""Liveness from the first line: a rank that fails before distgrad's distributed layer starts
(an exception, sys.exit(3) or a signal while it "loads its config"), while its peer waits
inside MPI initialisation, ends the whole job within seconds with that rank's traceback, under
plain mpiexec and under distgrad-run (scripts/fail_early.py; distgrad/world/first_line.py)."""
import re
import sys

import pytest

from jobs import SCRIPTS, clean_environment, record, run, time_of

pytestmark = pytest.mark.timeout(60)
FAILING = r"\[fail_early rank 1\] failing"


def launch(launcher, mpiexec, how, wait):
    script = [str(SCRIPTS / "fail_early.py"), how, wait]
    if launcher == "mpiexec":
        cmd = [mpiexec, "-n", "2", sys.executable, *script]
    else:
        cmd = [sys.executable, "-m", "distgrad.run", "--mpiexec", mpiexec, "-n", "2", *script]
    # 20 s: without the fix these jobs never end; with it they end in about a second.
    return run(cmd, timeout=20, env=clean_environment())


@pytest.mark.parametrize("launcher, how, wait", [
    ("mpiexec", "raise", "mpi4py"),
    ("mpiexec", "exit", "init"),
    ("mpiexec", "signal", "init"),
    ("distgrad-run", "raise", "init"),
    ("distgrad-run", "exit", "mpi4py"),
])
def test_a_rank_failing_before_distributed_starts_ends_the_job(mpiexec, launcher, how, wait):
    job = launch(launcher, mpiexec, how, wait)
    assert job.returncode != 0, job.output
    assert "passed the barrier" not in job.output, job.output
    host = r"\[rank 1/2 \S+\] "
    if how == "raise":
        assert job.lines(host + "Traceback"), job.output
        assert job.lines(host + "ValueError: cannot read config.yaml on rank 1"), job.output
        assert job.lines(host + "ValueError on this rank: aborting all ranks"), job.output
    elif how == "exit":
        assert job.lines(host + r"\s+sys.exit\(3\)$"), job.output  # where it was called
        assert job.lines(host + r"sys.exit\(3\) on this rank: aborting all ranks"), job.output
    if how != "signal" and launcher == "distgrad-run":
        # distgrad-run's ranks start MPI before the script: MPI_Abort keeps the exit code
        assert job.returncode == (1 if how == "raise" else 3), job.output
    seconds = job.ended - time_of(job.output, FAILING)
    record(f"rank failing before init ({how}, {launcher}, peer in {wait}): job ended after", seconds)
    assert seconds < 10, job.output


NOT_A_FAILURE = """
import os, subprocess, sys
import distgrad
try:
    sys.exit(4)
except SystemExit:
    pass
child = subprocess.run([sys.executable, "-c", "import sys, distgrad; sys.exit(5)"])
import distgrad.distributed as dist
dist.barrier()
# one write of a whole line: the two ranks share mpiexec's output, and print()'s pieces interleave
os.write(1, f"done {dist.get_rank()} child exit code {child.returncode}\\n".encode())
"""


def test_a_caught_sys_exit_or_a_failing_child_process_does_not_end_the_job(tmp_path, mpiexec):
    script = tmp_path / "not_a_failure.py"
    script.write_text(NOT_A_FAILURE)
    job = run([mpiexec, "-n", "2", sys.executable, str(script)], timeout=30, env=clean_environment())
    assert job.returncode == 0, job.output
    assert sorted(re.findall(r"done \d child exit code 5", job.output)) == \
        ["done 0 child exit code 5", "done 1 child exit code 5"], job.output
