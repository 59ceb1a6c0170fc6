"""distgrad-run end to end: dry runs, real 2-rank jobs, failures, --timeout, Ctrl-C, plain path.

Every job is started as `python -m distgrad.run` with this interpreter, so the tests work from
a clean venv before the `distgrad-run` script is on PATH.
"""
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# Ranks write each line with one os.write: mpiexec merges the ranks' output as it comes, and
# print() may hand a line and its newline over in two pieces that another rank's text splits.
RANK_SCRIPT = """
    import os
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    total = comm.allreduce(comm.rank + 1)
    os.write(1, f"rank {comm.rank} of {comm.size} sum {total} FOO={os.environ.get('FOO')} "
                f"DEBUG={os.environ.get('DISTGRAD_DEBUG')}\\n".encode())
"""

BOOT = "distgrad.launcher.bootstrap"
# torchrun's variables every rank gets alike (the per-rank ones are set by the bootstrap)
TORCHRUN_ENV = ["MASTER_ADDR=127.0.0.1", "MASTER_PORT=29500", "TORCHELASTIC_RESTART_COUNT=0",
                "TORCHELASTIC_MAX_RESTARTS=0", "TORCHELASTIC_RUN_ID=none"]
TORCHRUN_GENV = [w for pair in TORCHRUN_ENV for w in ("-genv", *pair.split("=", 1))]


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISTGRAD_MPIEXEC", "DISTGRAD_DEBUG", "FOO")}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def launcher(*args, timeout=60, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "distgrad.run", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env or _env(), stdin=subprocess.DEVNULL, **kw)


def script(tmp_path, source, name="job.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


# -- dry runs and usage errors (no MPI job) -------------------------------------------------

@pytest.mark.timeout(60)
def test_dry_run_prints_the_quoted_mpiexec_command(mpiexec):
    done = launcher("-n", "2", "-x", "FOO=a b", "--debug", "--dry-run", "train.py", "--name",
                    "it's")
    assert done.returncode == 0, done.stderr
    assert shlex.split(done.stdout) == [
        mpiexec, "-n", "2", *TORCHRUN_GENV, "-genv", "FOO", "a b", "-genv", "DISTGRAD_DEBUG", "1",
        sys.executable, "-m", "mpi4py", "-m", BOOT, "train.py", "--name", "it's"]


@pytest.mark.timeout(60)
def test_dry_run_with_openmpi_flags_and_hostfile(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("node1 slots=2\nnode2:2\n")
    done = launcher("--mpi", "openmpi", "--mpiexec", sys.executable, "--hostfile", hosts,
                    "-x", "FOO=1", "--dry-run", "train.py")
    assert done.returncode == 0, done.stderr
    assert shlex.split(done.stdout) == [
        sys.executable, "-n", "4", "-H", "node1:2,node2:2", "--bind-to", "none",
        "-x", "MASTER_ADDR=node1", "-x", "MASTER_PORT=29500", "-x", "TORCHELASTIC_RESTART_COUNT=0",
        "-x", "TORCHELASTIC_MAX_RESTARTS=0", "-x", "TORCHELASTIC_RUN_ID=none", "-x", "FOO=1",
        sys.executable, "-m", "mpi4py", "-m", BOOT, "train.py"]


@pytest.mark.timeout(60)
def test_dry_run_of_the_plain_path_shows_its_environment():
    done = launcher("--debug", "--dry-run", "train.py", "a")
    assert done.returncode == 0, done.stderr
    assert shlex.split(done.stdout) == [
        "env", "RANK=0", "WORLD_SIZE=1", "LOCAL_RANK=0", "LOCAL_WORLD_SIZE=1", "GROUP_RANK=0",
        "GROUP_WORLD_SIZE=1", "ROLE_RANK=0", "ROLE_WORLD_SIZE=1", "ROLE_NAME=default",
        *TORCHRUN_ENV, "DISTGRAD_DEBUG=1", sys.executable, "train.py", "a"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args, message", [
    (["-n", "5", "-H", "a:2,b:2", "t.py"], "-n 5 asks for more ranks than the 4 slot(s)"),
    (["-H", "a:0", "t.py"], "slot count must be positive"),
    (["-H", "a", "--hostfile", "h", "t.py"], "either with -H or with --hostfile"),
    (["--hostfile", "/nonexistent/hosts", "t.py"], "cannot read hostfile /nonexistent/hosts"),
    (["-n", "0", "t.py"], "-n must be a positive number of ranks"),
    (["-n", "2"], "no program to run"),
    (["--timeout", "0", "t.py"], "--timeout must be positive"),
    (["-x", "SURELY_NOT_SET_9", "t.py"], "-x SURELY_NOT_SET_9: the variable is not set here"),
    (["--mpiexec", "/nonexistent/mpiexec", "-n", "2", "t.py"], "does not exist"),
])
def test_usage_errors_exit_2_with_a_message(args, message):
    done = launcher(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.startswith("distgrad-run: error:")


# -- real jobs ------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_two_ranks_run_and_see_the_environment(tmp_path, mpiexec):
    done = launcher("-n", "2", "-x", "FOO=from launcher", "--debug", script(tmp_path, RANK_SCRIPT))
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.splitlines())
    assert lines == [f"rank {r} of 2 sum 3 FOO=from launcher DEBUG=1" for r in (0, 1)]


@pytest.mark.timeout(60)
def test_exit_code_of_the_job_is_passed_through(tmp_path, mpiexec):
    path = script(tmp_path, "import sys; sys.exit(3)\n")
    assert launcher("-n", "2", path).returncode == 3
    assert launcher(path).returncode == 3


@pytest.mark.timeout(60)
def test_a_failing_rank_ends_the_whole_job(tmp_path, mpiexec):
    path = script(tmp_path, """
        import time
        from mpi4py import MPI
        if MPI.COMM_WORLD.rank == 1:
            raise ValueError("bad batch on rank 1")
        time.sleep(120)  # rank 0 would wait forever without the abort
    """)
    done = launcher("-n", "2", path, timeout=50)
    assert done.returncode != 0
    assert "ValueError: bad batch on rank 1" in done.stderr


@pytest.mark.timeout(60)
def test_timeout_ends_a_sleeping_job(tmp_path, mpiexec):
    path = script(tmp_path, "import time; print('started', flush=True); time.sleep(120)\n")
    done = launcher("-n", "2", "--timeout", "2", "--grace", "2", path, timeout=50)
    assert done.returncode == 124
    assert "timeout: the job ran longer than 2 s (--timeout)" in done.stderr


@pytest.mark.timeout(60)
def test_timeout_also_applies_to_a_single_process(tmp_path):
    path = script(tmp_path, "import time; time.sleep(120)\n")
    done = launcher("--timeout", "1", path, timeout=50)
    assert done.returncode == 124
    assert "--timeout" in done.stderr


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except FileNotFoundError:
        return False


def _interrupt_job(tmp_path, source, signum, extra_args=()):
    """Start a 2-rank job whose ranks print their pids, signal the launcher; return the exit
    code, stderr and the ranks' pids."""
    path = script(tmp_path, source)
    proc = subprocess.Popen([sys.executable, "-m", "distgrad.run", "-n", "2", *extra_args,
                             str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), stdin=subprocess.DEVNULL)
    try:
        pids = [int(proc.stdout.readline().split()[-1]) for _ in range(2)]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err, pids


OBEDIENT = """
    import os, time
    os.write(1, f"pid {os.getpid()}\\n".encode())
    time.sleep(120)
"""
STUBBORN = """
    import os, signal, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.write(1, f"pid {os.getpid()}\\n".encode())
    time.sleep(120)
"""


@pytest.mark.timeout(60)
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="checks rank processes through /proc")
@pytest.mark.parametrize("source, signum, message", [
    (OBEDIENT, signal.SIGINT, "got SIGINT, stopping all ranks"),
    (OBEDIENT, signal.SIGTERM, "got SIGTERM, stopping all ranks"),
    # Ranks that ignore the forwarded signal are killed once --grace has passed.
    (STUBBORN, signal.SIGINT, "still running 1 s after being told to stop; killing them"),
], ids=["ctrl-c", "sigterm", "ranks-ignore-signals"])
def test_signals_stop_every_rank(tmp_path, mpiexec, source, signum, message):
    code, err, pids = _interrupt_job(tmp_path, source, signum, extra_args=["--grace", "1"])
    assert code == 128 + signum
    assert message in err
    time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.timeout(60)
def test_without_n_the_script_replaces_the_launcher(tmp_path):
    # exec, not a child: the script has the launcher's pid, and no MPI launcher ran it.
    path = script(tmp_path, """
        import os, sys
        print(os.getpid(), os.environ.get("PMI_RANK"), os.environ.get("DISTGRAD_DEBUG"),
              sys.argv[1:])
    """)
    proc = subprocess.Popen([sys.executable, "-m", "distgrad.run", "--debug", str(path), "-n",
                             "2"],
                            stdout=subprocess.PIPE, text=True, env=_env(),
                            stdin=subprocess.DEVNULL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.strip().split(maxsplit=3) == [str(proc.pid), "None", "1", "['-n', '2']"]


@pytest.mark.timeout(60)
def test_n_1_without_hosts_is_also_the_plain_path(tmp_path):
    path = script(tmp_path, "import os; print('PMI_RANK' in os.environ)\n")
    done = launcher("-n", "1", "-x", "FOO=1", path)
    assert (done.returncode, done.stdout) == (0, "False\n")


def test_ranks_get_one_thread_each_unless_the_user_chose():
    from types import SimpleNamespace
    from distgrad.run import _rank_environment
    launch = SimpleNamespace(env=[])
    assert _rank_environment({"PATH": "/bin"}, launch)["OMP_NUM_THREADS"] == "1"
    assert _rank_environment({"OMP_NUM_THREADS": "4"}, launch)["OMP_NUM_THREADS"] == "4"
    chosen = SimpleNamespace(env=[("OMP_NUM_THREADS", "2")])
    assert "OMP_NUM_THREADS" not in _rank_environment({}, chosen)  # -x value travels by itself
