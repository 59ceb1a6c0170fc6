"""Tests here start processes (jobs under mpiexec or distgrad-run, fresh interpreters); the
mpiexec fixture is in tests/conftest.py."""
import os

import pytest

# Set by an MPI launcher in each rank: passed on (pytest itself run under mpiexec), they would
# make a process a test starts believe it is one of that job's ranks.
from distgrad.utils.ranks import LAUNCHER_VARIABLES


@pytest.fixture
def job_env():
    """This process's environment for a child: no launcher rank variables, one thread."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    return env
