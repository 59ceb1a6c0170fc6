"""Running multi-rank jobs from a single pytest process: mpiexec (the path of tests/conftest.py's
fixture) starts scripts/<script> on N ranks; every job has a deadline, and a job that misses it
is killed with its whole process tree and fails the test instead of hanging it.

FIGURES collects what the tests measured (time to detect a lost rank, ...); conftest.py
prints them at the end of the run, and RELIABILITY.md quotes them.
"""
import importlib.util
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from distgrad.launcher.supervise import kill_tree
from distgrad.utils.ranks import LAUNCHER_VARIABLES

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
REPO = HERE.parents[1]
# Settings a developer's shell may carry that would change what the tests observe.
DISTGRAD_SETTINGS = ("DISTGRAD_PEER_TIMEOUT", "DISTGRAD_LIVENESS", "DISTGRAD_LIVENESS_ADDRESS",
                     "DISTGRAD_STALL_WARNING_SECONDS", "DISTGRAD_DEBUG")
FIGURES = {}


def helpers_of(test_file):
    """Another test folder's module (tests/unit/..., by path from the repository), for its
    helpers: they stay written once."""
    path = REPO / test_file
    spec = importlib.util.spec_from_file_location(f"_helpers_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_shakespeare():
    """The tiny Shakespeare text ($DISTGRAD_TEXT, else the shared datasets folder); skips the
    test where it is missing."""
    path = os.environ.get("DISTGRAD_TEXT") or str(REPO.parent / "shared" / "datasets" / "tinyshakespeare" / "input.txt")
    if not os.path.exists(path):
        pytest.skip(f"tiny Shakespeare not found at {path} (set DISTGRAD_TEXT)")
    return path


def record(name, value, unit="s"):
    """Keep a measured figure for the end-of-run summary."""
    FIGURES.setdefault(name, []).append((value, unit))


def clean_environment(**extra):
    environ = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES + DISTGRAD_SETTINGS}
    environ.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    environ.update({k: str(v) for k, v in extra.items()})
    return environ


@dataclass
class Job:
    returncode: int
    output: str
    seconds: float  # how long it ran
    ended: float    # when it ended (time.time(), to compare with times the ranks printed)

    def lines(self, pattern):
        return [line for line in self.output.splitlines() if re.search(pattern, line)]


def run(cmd, timeout, env=None, cwd=REPO):
    """Run ``cmd`` in a session of its own; past ``timeout`` seconds, kill its process tree and
    fail the test with what it printed."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        output, _ = proc.communicate()
        pytest.fail(f"the job did not end within {timeout} s (killed): {' '.join(map(str, cmd))}\n{output}")
    return Job(proc.returncode, output, time.monotonic() - started, time.time())


def run_job(mpiexec, *args, ranks=2, timeout=60, script="train.py", env=None):
    """``mpiexec -n ranks python scripts/<script> args...`` (``mpiexec``: the fixture's path)."""
    cmd = [mpiexec, "-n", str(ranks), sys.executable, str(SCRIPTS / script), *map(str, args)]
    return run(cmd, timeout, clean_environment(**(env or {})))


def time_of(text, pattern):
    """The wall-clock time a script printed as ``t=<seconds>`` on the line matching ``pattern``."""
    for line in text.splitlines():
        if re.search(pattern, line):
            return float(re.search(r"t=([0-9.]+)", line).group(1))
    raise AssertionError(f"no line matching {pattern!r} in:\n{text}")
