"""A two-"host" job across network namespaces (launch/netns_hosts.sh), end to end.

Runs only where this process may create network namespaces (root on Linux with iproute2);
elsewhere it skips and says why. The namespaces get a prefix unique to this test run, are
connected only to each other, and are deleted afterwards.
"""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LAUNCH = Path(__file__).resolve().parents[2] / "launch"
PREFIX = f"dgt{os.getpid()}-"

ALLREDUCE = """
    import os
    from mpi4py import MPI
    import numpy as np
    comm = MPI.COMM_WORLD
    x = np.full(250_000, comm.rank + 1.0)  # 2 MB: enough to see on the wire
    y = np.empty_like(x)
    comm.Allreduce(x, y)
    # One write per line, so the two ranks' lines cannot interleave in mpiexec's output.
    os.write(1, f"rank {comm.rank} of {comm.size} on {MPI.Get_processor_name()} sum {y[0]:g}"
                f"\\n".encode())
"""


def _why_no_namespaces():
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (apt-get install -y iproute2 util-linux)"
    probe = f"{PREFIX}probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                          timeout=30)
    if made.returncode != 0:
        return f"'ip netns add' is not allowed here: {made.stderr.strip()}"
    try:
        # Entering one (mounts /sys) and a UTS namespace of its own are needed too.
        entered = subprocess.run(["ip", "netns", "exec", probe, "unshare", "--uts", "true"],
                                 capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=30)
    if entered.returncode != 0:
        return f"cannot enter a network namespace here: {entered.stderr.strip()}"
    return None


def hosts_script(*args, timeout=60):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    return subprocess.run(["bash", str(LAUNCH / "netns_hosts.sh"), *args[:1], "--prefix", PREFIX,
                           *args[1:]], capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def received_bytes(namespace):
    stats = Path("/sys/class/net/eth0/statistics/rx_bytes")
    done = subprocess.run(["ip", "netns", "exec", namespace, "cat", str(stats)],
                          capture_output=True, text=True, timeout=30, check=True)
    return int(done.stdout)


@pytest.mark.timeout(120)
def test_allreduce_across_two_namespace_hosts(tmp_path, mpiexec):
    reason = _why_no_namespaces()
    if reason:
        pytest.skip(f"no network namespaces: {reason}")
    script = tmp_path / "allreduce.py"
    script.write_text(textwrap.dedent(ALLREDUCE))
    try:
        up = hosts_script("up", "-n", "2")
        assert up.returncode == 0, up.stderr
        before = received_bytes(f"{PREFIX}host2")
        done = hosts_script("run", "-n", "2", "--", "--timeout", "60", str(script))
        after = received_bytes(f"{PREFIX}host2")
    finally:
        down = hosts_script("down")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.splitlines()) == [
        f"rank 0 of 2 on {PREFIX}host1 sum 3", f"rank 1 of 2 on {PREFIX}host2 sum 3"]
    # The data went over the veth pair, not through shared memory.
    assert after - before > 1_000_000
    assert down.returncode == 0, down.stderr
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    assert PREFIX not in left.stdout
    assert not any(p.name.startswith(PREFIX) for p in Path("/etc/netns").glob("*"))
