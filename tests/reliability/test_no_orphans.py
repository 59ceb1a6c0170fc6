"""No orphan, ever: distgrad-run killed with SIGKILL (a scheduler's time limit, the OOM killer)
takes mpiexec and every rank with it, within 10 s (launcher/parent_death.py). Processes are
found and checked through /proc: a pid counts as alive while it exists with the same start
time and is not a zombie."""
import os
import signal
import subprocess
import sys
import time

import pytest

from distgrad.launcher.supervise import kill_tree, process_tree
from jobs import REPO, clean_environment, record

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")]
# Each rank leaves its pid as a file name (printed lines of two ranks may interleave).
SLEEPER = "import os, sys, time\nopen(os.path.join(sys.argv[1], str(os.getpid())), 'w').close()\ntime.sleep(120)\n"


def identity(pid):
    """(pid, start time) or None when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    return None if fields[0] == b"Z" else (pid, fields[19])


def test_sigkill_to_the_launcher_leaves_no_process_of_the_job(tmp_path, mpiexec):
    script, pids = tmp_path / "sleeper.py", tmp_path / "pids"
    script.write_text(SLEEPER)
    pids.mkdir()
    launcher = subprocess.Popen([sys.executable, "-m", "distgrad.run", "--mpiexec", mpiexec, "-n", "2",
                                 str(script), str(pids)], cwd=REPO, env=clean_environment(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    job = []
    try:
        deadline = time.monotonic() + 30
        while len(os.listdir(pids)) < 2 and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        ranks = {int(name) for name in os.listdir(pids)}
        assert len(ranks) == 2, f"the ranks did not start (launcher exit code {launcher.poll()})"
        job = [i for i in map(identity, process_tree(launcher.pid)[1:]) if i]  # mpiexec, proxy, ranks
        assert ranks <= {pid for pid, _ in job}, (ranks, job)
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait()
        killed = time.monotonic()
        left = job
        while left and time.monotonic() - killed < 10:
            time.sleep(0.05)
            left = [i for i in job if identity(i[0]) == i]
        assert not left, f"still running 10 s after the launcher was killed: {left}"
        record("launcher SIGKILLed: its job's last process gone after", time.monotonic() - killed)
    finally:
        if launcher.poll() is None:
            kill_tree(launcher.pid)
        for pid, _ in job:
            if identity(pid) is not None:
                kill_tree(pid)
        launcher.wait()
