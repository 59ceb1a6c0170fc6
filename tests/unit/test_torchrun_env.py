"""torchrun habits in one process: distgrad-run's torchrun flags, the environment it gives
the ranks, and the checks that stop a process told it is one of several from training alone
(a fake world stands in for MPI). The real 2-rank launch is in tests/process."""
import os
import sys
import types

import pytest

from distgrad import run
from distgrad.data.distributed import DistributedSampler
from distgrad.launcher import bootstrap
from distgrad.launcher.command import LaunchError
from distgrad.utils.ranks import LAUNCHER_VARIABLES
from distgrad.world import state
from distgrad.world.comm.local import LocalCommunicator
from distgrad.world.comm.topology import Topology

torch = pytest.importorskip("torch")
torch_run = pytest.importorskip("torch.distributed.run")


def launch_of(*argv, environ=None):
    own, program = run.split_argv(list(argv))
    return run.make_launch(run._parser().parse_args(own), program, environ or {})


# -- torchrun's flags -----------------------------------------------------------------------

@pytest.mark.parametrize("flags", [["--nproc-per-node", "3"], ["--nproc_per_node", "3"],
                                   ["--nproc-per-node=3"], ["--nproc_per_node=3"],
                                   ["--standalone", "--nnodes", "1", "--nproc-per-node", "3"],
                                   ["--nnodes=1", "--node-rank=0", "--nproc_per_node=3"]])
def test_torchrun_flags_give_the_same_job(flags):
    argv = [*flags, "train.py", "--lr", "0.1"]
    # PyTorch's own parser reads the same words the same way
    args = torch_run.get_args_parser().parse_args(argv)
    assert (args.nproc_per_node, args.training_script, args.training_script_args) == \
        ("3", "train.py", ["--lr", "0.1"])
    launch = launch_of(*argv)
    assert launch.nprocs == 3 and launch.program == ["train.py", "--lr", "0.1"]
    assert launch.uses_mpiexec


def test_nproc_per_node_takes_torchrun_words(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert launch_of("--nproc-per-node", "cpu", "--oversubscribe", "train.py").nprocs == 6
    assert launch_of("--nproc-per-node", "auto", "--oversubscribe", "train.py").nprocs == \
        (cuda_count() or 6)
    with pytest.raises(SystemExit):
        launch_of("--nproc-per-node", "many", "train.py")


def cuda_count():
    from distgrad.backend import cuda
    return cuda.device_count() if cuda.is_available() else 0


def test_nproc_per_node_with_hosts_is_ranks_per_host():
    launch = launch_of("--nnodes", "2", "--nproc-per-node", "2", "-H", "a,b", "train.py")
    assert launch.nprocs == 4 and [(h.name, h.slots) for h in launch.hosts] == [("a", 2), ("b", 2)]
    assert dict(launch.env)["MASTER_ADDR"] == "a"  # the first node, as node 0 of torchrun


@pytest.mark.parametrize("flags, message", [
    (["--nnodes", "2"], "needs the 2 nodes listed with -H"),
    (["--nnodes", "2", "-H", "a"], "got 1"),
    (["--node-rank", "1", "-H", "a,b"], "run it once"),
    (["--node_rank", "1"], "run it once"),
    (["--standalone", "--nnodes", "2", "-H", "a,b"], "--standalone is a single-node job"),
    (["--nnodes", "0"], "positive"),
    (["--master-port", "70000"], "1..65535"),
])
def test_node_flags_distgrad_run_cannot_honour_are_refused(flags, message):
    with pytest.raises(LaunchError, match=message):
        launch_of(*flags, "train.py")


def test_split_argv_takes_the_value_of_torchrun_flags():
    own, program = run.split_argv(["--nproc_per_node", "2", "--master_addr", "h", "--master-port",
                                   "1234", "--standalone", "train.py", "--nnodes", "5"])
    assert program == ["train.py", "--nnodes", "5"]


# -- the environment of the ranks -----------------------------------------------------------

def test_every_rank_gets_torchrun_common_variables():
    env = dict(launch_of("-n", "2", "--master_addr", "10.0.0.1", "--master-port", "1234",
                         "train.py").env)
    assert env == {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1234",
                   "TORCHELASTIC_RESTART_COUNT": "0", "TORCHELASTIC_MAX_RESTARTS": "0",
                   "TORCHELASTIC_RUN_ID": "none"}
    defaults = dict(launch_of("-n", "2", "train.py").env)
    assert (defaults["MASTER_ADDR"], defaults["MASTER_PORT"]) == ("127.0.0.1", "29500")


def test_standalone_run_id_is_unique_and_x_overrides_a_default():
    env = dict(launch_of("--standalone", "-n", "2", "-x", "MASTER_PORT=7", "train.py").env)
    assert env["MASTER_PORT"] == "7" and env["TORCHELASTIC_RUN_ID"] not in ("", "none")


def test_the_bootstrap_sets_torchrun_per_rank_variables():
    assert bootstrap.torchrun_variables(5, 8, 1, 4, 1, 2) == {
        "RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
        "GROUP_RANK": "1", "GROUP_WORLD_SIZE": "2", "ROLE_RANK": "5", "ROLE_WORLD_SIZE": "8",
        "ROLE_NAME": "default"}


@pytest.fixture
def saved_argv_and_path():
    argv, path = list(sys.argv), list(sys.path)
    yield
    sys.argv[:], sys.path[:] = argv, path


def test_the_bootstrap_runs_a_script_as_main(tmp_path, saved_argv_and_path):
    out = tmp_path / "out.txt"
    script = tmp_path / "job.py"
    script.write_text("import os, sys\n"
                      f"open({str(out)!r}, 'w').write(repr((__name__, sys.argv, sys.path[0])))\n")
    bootstrap.run_program([str(script), "--x", "1"])
    assert eval(out.read_text()) == ("__main__", [str(script), "--x", "1"], str(tmp_path))


def test_the_bootstrap_without_a_program_says_what_to_give():
    with pytest.raises(SystemExit, match="no program"):
        bootstrap.main([])


# -- a process told it is one of several ----------------------------------------------------

TORCHRUN_RANK_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@pytest.fixture
def clean_world(monkeypatch):
    """No launcher variables, no torchrun WORLD_SIZE, no world; finalized afterwards."""
    for name in LAUNCHER_VARIABLES + TORCHRUN_RANK_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so whatever init exports is undone after
        monkeypatch.delenv(name)
    state.finalize()
    yield monkeypatch
    state.finalize()


def _fake_mpi_world(monkeypatch, rank, size):
    """init() builds an "mpi" world of ``size`` in which this process is ``rank``, without
    importing MPI (which would make every later test's "auto" world an MPI one)."""
    comm = LocalCommunicator(Topology(rank, size, rank, size, "fakehost"))
    monkeypatch.setattr(state, "create_communicator", lambda name: comm)
    monkeypatch.setattr(state, "resolve_backend", lambda name: "mpi")
    monkeypatch.setattr(state, "_announce", lambda *a: None)
    monkeypatch.setattr(state, "failure", types.SimpleNamespace(install=lambda c: None,
                                                                uninstall=lambda: None))
    monkeypatch.setattr(state, "liveness", types.SimpleNamespace(start=lambda c: None,
                                                                 stop=lambda: None))
    return comm


@pytest.fixture
def fake_world(clean_world):
    """A world of 2 in which this process is rank 1."""
    return _fake_mpi_world(clean_world, 1, 2)


@pytest.fixture
def world_of_one(clean_world):
    """A plain process under mpiexec -n 1 (or one mpi4py initialized by itself)."""
    _fake_mpi_world(clean_world, 0, 1)
    return clean_world


@pytest.mark.parametrize("start", [lambda: state.init(),
                                   lambda: state.init_process_group("gloo"),
                                   lambda: DistributedSampler(range(10))])
def test_world_size_2_without_an_mpi_world_stops_with_how_to_launch(world_of_one, start):
    world_of_one.setenv("WORLD_SIZE", "2")
    world_of_one.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match=r"WORLD_SIZE=2.*world of 1 rank.*distgrad-run"):
        start()
    assert not state.is_initialized()


def test_world_size_that_matches_is_accepted(fake_world, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert state.init() is fake_world


def test_a_plain_process_with_world_size_2_stops_too(clean_world):
    clean_world.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"WORLD_SIZE=2.*distgrad-run"):
        DistributedSampler(range(10))  # "auto": a world of one, MPI not imported


def test_plain_mpiexec_ranks_get_torchrun_variables_at_init(fake_world):
    state.init()
    assert {name: os.environ[name] for name in TORCHRUN_RANK_VARIABLES} == {
        "WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}


def test_init_process_group_twice_raises_as_pytorch(world_of_one):
    state.init_process_group("gloo")
    with pytest.raises(RuntimeError, match="trying to initialize the default process group twice"):
        state.init_process_group("gloo")
    state.finalize()  # destroy_process_group: then it may start again
    state.init_process_group()


def test_init_process_group_adopts_a_world_started_by_first_use(fake_world):
    state.communicator()
    state.init_process_group()
    assert state.get_backend() == "mpi"


def test_get_backend_answers_what_was_asked_for(world_of_one, caplog):
    with caplog.at_level("INFO", logger="distgrad.distributed"):
        state.init_process_group("gloo")
    assert state.get_backend() == "gloo"
    assert sum("'gloo' runs over MPI" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("kwargs, message", [(dict(world_size=4), "world_size=4"),
                                             (dict(rank=0), "rank=0"),
                                             (dict(world_size=2, rank=3), "rank=3")])
def test_init_process_group_checks_rank_and_world_size(fake_world, kwargs, message):
    with pytest.raises(ValueError, match=message):
        state.init_process_group("gloo", **kwargs)


def test_init_process_group_with_the_launchers_rank_and_size(fake_world):
    state.init_process_group("gloo", world_size=2, rank=1)
    assert state.get_backend() == "gloo"


def test_a_sampler_built_before_the_process_group_joins_the_world(fake_world, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    sampler = DistributedSampler(range(10), shuffle=False)
    assert state.is_initialized()
    assert (sampler.num_replicas, sampler.rank, list(sampler)) == (2, 1, [1, 3, 5, 7, 9])
    state.init_process_group("gloo")  # the script's own call afterwards still works


def test_a_plain_process_sampler_is_a_world_of_one(clean_world):
    assert list(DistributedSampler(range(3), shuffle=False)) == [0, 1, 2]
    assert not state.is_initialized()
