"""The launcher's pure parts: placement, environment, argv splitting, mpiexec argv per flavor."""
import os
import stat

import pytest

from distgrad.launcher.command import (Launch, LaunchError, build_command, plain_command,
                                       plan_placement, resolve_env)
from distgrad.launcher.hostfile import Host
from distgrad.launcher.mpi import MPICH, OPENMPI, MPIError, find_mpiexec, flavor_from_version
from distgrad.run import split_argv

PY = "/venv/bin/python"

BOOT = "distgrad.launcher.bootstrap"  # sets each rank's RANK/LOCAL_RANK before the program


def launch(**kw):
    kw.setdefault("program", ["train.py", "--lr", "0.1"])
    kw.setdefault("python", PY)
    return Launch(**kw)


# -- mpiexec argv ---------------------------------------------------------------------------

def test_mpich_single_machine():
    assert build_command(launch(nprocs=4), MPICH, "/venv/bin/mpiexec") == [
        "/venv/bin/mpiexec", "-n", "4", PY, "-m", "mpi4py", "-m", BOOT, "train.py", "--lr", "0.1"]


def test_mpich_hosts_env_and_extra_args():
    cmd = build_command(launch(nprocs=8, hosts=[Host("a", 4), Host("b", 4)],
                               env=[("FOO", "x y"), ("DISTGRAD_DEBUG", "1")],
                               mpi_args=["-launcher", "ssh"], oversubscribe=True), MPICH)
    assert cmd == ["mpiexec", "-n", "8", "-hosts", "a:4,b:4",
                   "-genv", "FOO", "x y", "-genv", "DISTGRAD_DEBUG", "1",
                   "-launcher", "ssh", PY, "-m", "mpi4py", "-m", BOOT, "train.py", "--lr", "0.1"]


def test_openmpi_hosts_env_and_oversubscribe():
    cmd = build_command(launch(nprocs=3, hosts=[Host("a", 1), Host("b", 1)],
                               env=[("FOO", "x y")], oversubscribe=True), OPENMPI)
    assert cmd == ["mpiexec", "-n", "3", "-H", "a:1,b:1", "--oversubscribe", "--bind-to", "none",
                   "-x", "FOO=x y", PY, "-m", "mpi4py", "-m", BOOT, "train.py", "--lr", "0.1"]


def test_openmpi_binding_chosen_by_the_user_is_kept():
    cmd = build_command(launch(nprocs=2, mpi_args=["--bind-to", "core"]), OPENMPI)
    assert cmd[:5] == ["mpiexec", "-n", "2", "--bind-to", "core"]
    assert cmd.count("--bind-to") == 1


def test_module_programs_run_under_mpi4py_too():
    cmd = build_command(launch(nprocs=2, program=["-m", "pkg.train", "--fast"]), OPENMPI)
    assert cmd[-8:] == [PY, "-m", "mpi4py", "-m", BOOT, "-m", "pkg.train", "--fast"]


def test_unknown_flavor_is_rejected():
    with pytest.raises(LaunchError, match="unknown MPI flavor 'lam'"):
        build_command(launch(nprocs=2), "lam")


def test_plain_command_is_just_python():
    assert plain_command(launch()) == [PY, "train.py", "--lr", "0.1"]
    assert not launch(nprocs=1).uses_mpiexec
    assert launch(nprocs=1, hosts=[Host("a", 1)]).uses_mpiexec
    assert launch(nprocs=2).uses_mpiexec


# -- placement ------------------------------------------------------------------------------

def test_ranks_default_to_every_slot_or_one():
    assert plan_placement(None, [], None, False) == (1, [])
    assert plan_placement(None, [Host("a", 2), Host("b", 3)], None, False)[0] == 5
    assert plan_placement(None, [], 4, False) == (4, [])


def test_gpus_per_node_sets_every_hosts_slots():
    n, hosts = plan_placement(None, [Host("a", 1), Host("b", 7)], 4, False)
    assert (n, hosts) == (8, [Host("a", 4), Host("b", 4)])


def test_more_ranks_than_slots_needs_oversubscribe():
    with pytest.raises(LaunchError, match=r"-n 5 .* 3 slot\(s\) of 2 host\(s\).*--oversubscribe"):
        plan_placement(5, [Host("a", 1), Host("b", 2)], None, False)
    with pytest.raises(LaunchError, match="this machine with --gpus-per-node 2"):
        plan_placement(3, [], 2, False)
    assert plan_placement(5, [Host("a", 1), Host("b", 2)], None, True)[0] == 5
    assert plan_placement(16, [], None, False) == (16, [])  # no hosts named: no slot limit


@pytest.mark.parametrize("nprocs, gpus, message", [
    (0, None, "-n must be a positive number of ranks, got 0"),
    (-3, None, "got -3"),
    (2, 0, "--gpus-per-node must be positive, got 0"),
])
def test_non_positive_counts_are_rejected(nprocs, gpus, message):
    with pytest.raises(LaunchError, match=message):
        plan_placement(nprocs, [], gpus, False)


# -- environment ----------------------------------------------------------------------------

def test_env_values_given_or_taken_from_here():
    environ = {"HOME": "/home/me", "EMPTY": ""}
    assert resolve_env(["A=1", "HOME", "B=x=y", "EMPTY", "C="], environ) == [
        ("A", "1"), ("HOME", "/home/me"), ("B", "x=y"), ("EMPTY", ""), ("C", "")]


def test_debug_adds_distgrad_debug_and_later_values_win():
    assert resolve_env(["A=1", "A=2"], {}, debug=True) == [("A", "2"), ("DISTGRAD_DEBUG", "1")]


@pytest.mark.parametrize("item, message", [
    ("NOT_SET_ANYWHERE", "-x NOT_SET_ANYWHERE: the variable is not set here"),
    ("=1", "'' is not a valid environment variable name"),
    ("1A=2", "'1A' is not a valid"),
    ("A-B=2", "'A-B' is not a valid"),
])
def test_bad_env_items(item, message):
    with pytest.raises(LaunchError, match=message):
        resolve_env([item], {})


# -- argv splitting -------------------------------------------------------------------------

@pytest.mark.parametrize("argv, own, program", [
    (["-n", "4", "train.py", "-n", "2"], ["-n", "4"], ["train.py", "-n", "2"]),
    (["-n4", "--timeout=5", "t.py"], ["-n4", "--timeout=5"], ["t.py"]),
    (["-x", "A=1", "--debug", "-m", "pkg.mod", "--debug"],
     ["-x", "A=1", "--debug"], ["-m", "pkg.mod", "--debug"]),
    (["--dry-run", "--", "-weird.py", "a"], ["--dry-run"], ["-weird.py", "a"]),
    (["-H", "a:2", "--mpi-args", "-launcher ssh", "t.py"],
     ["-H", "a:2", "--mpi-args", "-launcher ssh"], ["t.py"]),
    (["-n", "2"], ["-n", "2"], []),
])
def test_split_argv_stops_at_the_program(argv, own, program):
    assert split_argv(argv) == (own, program)


# -- finding mpiexec and its flavor ---------------------------------------------------------

@pytest.mark.parametrize("text, flavor", [
    ("HYDRA build details:\n    Version: 4.2.0", MPICH),
    ("mpiexec (OpenRTE) 4.1.2\n\nReport bugs to http://www.open-mpi.org/community/help/",
     OPENMPI),
    ("mpiexec (Open MPI) 5.0.3", OPENMPI),
    ("Intel(R) MPI Library for Linux* OS, Version 2021.10", MPICH),
    ("something else 1.0", None),
])
def test_flavor_from_version_text(text, flavor):
    assert flavor_from_version(text) == flavor


def _executable(path):
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_mpiexec_order(tmp_path):
    venv_bin, other = tmp_path / "venv" / "bin", tmp_path / "other"
    venv_bin.mkdir(parents=True)
    other.mkdir()
    beside, on_path = _executable(venv_bin / "mpiexec"), _executable(other / "mpiexec")
    explicit = _executable(tmp_path / "my-mpiexec")
    python = str(venv_bin / "python")
    env = {"PATH": str(other)}
    assert find_mpiexec(None, env, python) == str(beside)
    assert find_mpiexec(None, dict(env, DISTGRAD_MPIEXEC=str(explicit)), python) == str(explicit)
    assert find_mpiexec(str(explicit), dict(env, DISTGRAD_MPIEXEC=str(on_path)), python) \
        == str(explicit)
    os.remove(beside)
    assert find_mpiexec(None, env, python) == str(on_path)
    with pytest.raises(MPIError, match="mpiexec not found .*pip install mpich"):
        find_mpiexec(None, {"PATH": str(tmp_path)}, python)
    with pytest.raises(MPIError, match="does not exist or is not executable"):
        find_mpiexec(str(tmp_path / "nope"), env, python)
