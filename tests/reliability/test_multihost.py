"""Jobs across several "hosts": network namespaces on this machine joined by a bridge
(launch/netns_hosts.sh), MPI over TCP between them, as on a cluster.

- Two hosts train in step (the same parameters on both), then host 2's rank is killed: the
  job ends, naming the lost rank or host.
- Three hosts train, then host 2's link is cut (its veth set down) mid-training. Every rank on
  both sides ends once the peer timeout has passed (5 s here rather than the default 30 s; the
  timing itself is tested in-process in test_liveness.py), non-zero, naming the peers it lost.
  MPI alone does not notice: the heartbeats of the liveness module do.

Skipped, with the reason, where network namespaces cannot be made (not root, no iproute2).
Each rank writes its output to a log file (a cut link also cuts the way its output takes
back to mpiexec) and, through a wrapper interpreter, its exit code to rc.<rank>.
"""
import os
import re
import subprocess
import sys
import time

import pytest

from distgrad.world.liveness import EXIT_CODE
from distgrad.launcher.supervise import kill_tree
from jobs import REPO, SCRIPTS, clean_environment, helpers_of, record, time_of

NETNS_HOSTS = REPO / "launch" / "netns_hosts.sh"
PREFIX = f"dgr{os.getpid()}-"
PEER_TIMEOUT = 5  # seconds: long enough for heartbeats between namespaces, short enough to wait out
WRAPPER = """#!/bin/sh
"{python}" "$@"
rc=$?
echo $rc > "{logs}/rc.$PMI_RANK"
exit $rc
"""


class Hosts:
    def __init__(self, tmp_path, count):
        self.count, self.logs = count, tmp_path / "logs"
        self.logs.mkdir()
        self.python = tmp_path / "python.sh"
        self.python.write_text(WRAPPER.format(python=sys.executable, logs=self.logs))
        self.python.chmod(0o755)
        self.output = tmp_path / "job.out"
        self.job = None
        done = self.script("up", "-n", count)
        assert done.returncode == 0, done.stdout + done.stderr

    def script(self, command, *args):
        return subprocess.run(["bash", str(NETNS_HOSTS), command, "--prefix", PREFIX, *map(str, args)],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                              env=clean_environment(PYTHON=sys.executable))

    def start(self, *args, env=None):
        """scripts/train.py on one rank per host, in the background; ``env``: settings for the ranks."""
        cmd = ["bash", str(NETNS_HOSTS), "run", "--prefix", PREFIX, "-n", str(self.count), "--",
               "--python", str(self.python), str(SCRIPTS / "train.py"), "--log-dir", str(self.logs),
               *map(str, args)]
        with open(self.output, "w") as out:
            self.job = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=REPO, env=clean_environment(PYTHON=sys.executable, **(env or {})),
                                        start_new_session=True)
        return self.job

    def log(self, rank):
        path = self.logs / f"rank{rank}.log"
        return path.read_text() if path.exists() else ""

    def wait_for(self, condition, seconds, what):
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {seconds} s\n{self.everything()}")
            time.sleep(0.2)

    def cut(self, host):
        subprocess.run(["ip", "-n", f"{PREFIX}switch", "link", "set", f"h{host}", "down"], check=True, timeout=30)

    def exit_code(self, rank):
        path = self.logs / f"rc.{rank}"
        return (int(path.read_text()), path.stat().st_mtime) if path.exists() else None

    def everything(self):
        text = self.output.read_text() if self.output.exists() else ""
        return text + "".join(f"\n--- rank {r}\n{self.log(r)}" for r in range(self.count))

    def close(self):
        if self.job is not None and self.job.poll() is None:
            kill_tree(self.job.pid)  # mpiexec may wait forever for a host it cannot reach
        if self.job is not None:
            self.job.wait()
        self.script("down")


@pytest.fixture
def hosts(tmp_path, mpiexec):
    reason = helpers_of("tests/process/test_launcher_netns.py")._why_no_namespaces()
    if reason:
        pytest.skip(f"no network namespaces here: {reason}")
    made = []

    def make(count):
        made.append(Hosts(tmp_path, count))
        return made[-1]
    yield make
    for h in made:
        h.close()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    assert PREFIX not in left


def digests(text):
    return dict(re.findall(r"epoch (\d+) digest (\w+)", text))


@pytest.mark.timeout(150)
def test_two_hosts_train_in_step_and_a_killed_rank_ends_the_job(hosts):
    h = hosts(2)
    # 8 steps an epoch: step 36 is in epoch 5, after four epochs in step.
    job = h.start("--epochs", 6, "--fault", "kill", "--fault-rank", 1, "--fault-step", 36)
    try:
        job.wait(90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the job did not end within 90 s\n{h.everything()}")
    ended = time.time()
    assert job.returncode != 0, h.everything()
    seen = [digests(h.log(r)) for r in range(2)]
    assert sorted(seen[1]) == ["1", "2", "3", "4"] and seen[0] == seen[1], h.everything()  # replicas agree
    named_by_liveness = f"lost contact with rank 1 (host {PREFIX}host2)" in h.log(0)
    named_by_mpiexec = re.search(rf"RUNNING AT {PREFIX}host2", h.output.read_text())
    assert named_by_liveness or named_by_mpiexec, h.everything()
    record("SIGKILLed rank on another host (2 namespace hosts): job ended after",
           ended - time_of(h.log(1), r"fault kill"))


@pytest.mark.timeout(200)
def test_a_cut_link_ends_every_rank_on_both_sides(hosts):
    h = hosts(3)
    h.start("--epochs", 1_000_000, env=dict(DISTGRAD_PEER_TIMEOUT=PEER_TIMEOUT))
    h.wait_for(lambda: all("epoch 2 digest" in h.log(r) for r in range(3)), 90, "two epochs on every rank")
    cut_at = time.time()
    h.cut(2)  # host 2 (rank 1) on one side, hosts 1 and 3 (ranks 0 and 2) on the other
    h.wait_for(lambda: all(h.exit_code(r) for r in range(3)), 60, "every rank ending after the cut")
    for r in range(3):
        code, when = h.exit_code(r)
        assert code == EXIT_CODE, h.everything()
        record(f"cut link (3 namespace hosts, peer timeout {PEER_TIMEOUT} s): rank {r} ended after", when - cut_at)
    assert digests(h.log(0))["2"] == digests(h.log(1))["2"] == digests(h.log(2))["2"]
    assert f"[rank 1/3 {PREFIX}host2] lost contact with rank 0 (host {PREFIX}host1), rank 2 (host {PREFIX}host3) " \
           f"for {PEER_TIMEOUT} s" in h.log(1), h.everything()
    for r, host in ((0, 1), (2, 3)):
        assert f"[rank {r}/3 {PREFIX}host{host}] lost contact with rank 1 (host {PREFIX}host2) for " in h.log(r), \
            h.everything()
