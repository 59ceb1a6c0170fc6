"""Failures of a multi-rank job, from the outside: each test launches a small script with
``mpiexec -n 2`` (scripts/) and reads what the job printed."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture
def run_job(mpiexec, job_env):
    def run(script, ranks=2, timeout=90, **env):
        return subprocess.run([mpiexec, "-n", str(ranks), sys.executable, str(SCRIPTS / script)],
                              env=dict(job_env, **env), capture_output=True, text=True, timeout=timeout)
    return run


@pytest.mark.timeout(120)
def test_an_exception_on_one_rank_ends_the_whole_job_naming_that_rank(run_job):
    job = run_job("raise_on_one_rank.py")
    output = job.stdout + job.stderr
    assert job.returncode != 0
    assert "[rank 1/2 " in output and "ValueError: deliberate failure on rank 1" in output
    assert "aborting all ranks" in output
    assert "rank 0 finished" not in output


@pytest.mark.timeout(120)
def test_debug_mode_catches_a_collective_mismatch(run_job):
    job = run_job("mismatched_collective.py", DISTGRAD_DEBUG="1")
    output = job.stdout + job.stderr
    assert job.returncode != 0
    assert "DISTGRAD_DEBUG: collective #" in output
    assert "shape differs: rank 0 has (3,); rank 1 has (4,)" in output
    assert "mismatch not caught" not in output


@pytest.mark.timeout(120)
def test_a_late_rank_gets_a_stall_warning_naming_it(run_job):
    job = run_job("late_rank.py", DISTGRAD_STALL_WARNING_SECONDS="1")
    output = job.stdout + job.stderr
    assert job.returncode == 0, output
    assert re.search(r"\[rank 0/2 \S+\] WARNING: stall: all_reduce\(op=sum\) of float32 \(3,\)", output)
    assert "ranks that have not arrived: rank 1 (no answer" in output
    assert "completed after" in output
    assert "rank 0 done" in output and "rank 1 done" in output


@pytest.mark.timeout(120)
def test_a_rank_that_exits_early_ends_the_job_instead_of_hanging_it(run_job):
    # The collective layer's own exit notice, without the heartbeat watchdog (liveness.py),
    # which may notice the lost process first.
    job = run_job("exit_early.py", DISTGRAD_LIVENESS="0")
    output = job.stdout + job.stderr
    assert job.returncode != 0
    assert "[rank 0/2 " in output, f"exit status {job.returncode}, output {output!r}"
    assert "barrier (collective #" in output and "can never complete: rank 1 (after" in output
    assert "ended its process without joining it" in output
    assert "rank 0 passed" not in output
