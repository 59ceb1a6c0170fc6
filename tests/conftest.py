"""Fixtures shared by every test folder."""
import pytest

from distgrad.launcher.mpi import MPIError, find_mpiexec


@pytest.fixture(scope="session")
def mpiexec():
    """The mpiexec distgrad-run would use (--mpiexec's search order); a test that needs one
    is skipped, saying why, where none is installed."""
    try:
        return find_mpiexec()
    except MPIError as e:
        pytest.skip(f"no mpiexec: {e}")
