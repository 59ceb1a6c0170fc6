"""Elastic jobs: ``distgrad-run --max-restarts K --min-np M [--host-discovery-script S]``.

When the job fails, the launcher reads in the job's output which ranks or hosts were lost and
why (a survivor's heartbeat report, a rank's own abort line, mpiexec's termination banner),
then starts the job again, with a fresh mpiexec, as torchrun does: at the original size while
every host is alive, without the hosts that are lost. A rank that raised, or whose process
was killed while its host still answers (its connection closed, or mpiexec's proxy there
reported the signal: an OOM kill, a crash), restarts in place; a host that went silent (no
heartbeat: cut off, crashed) leaves the host list and sits out the next attempt; one lost in
two attempts in a row is out for the rest of the job. On one machine the launcher's own host
is never lost. It restarts while at least M ranks remain, up to K times, one line each. The
discovery script (Horovod's convention: ``host:slots`` lines on stdout) is read before every
attempt, so hosts can come back, join or leave.

The ranks see DISTGRAD_RESTART_COUNT (and torchrun's TORCHELASTIC_RESTART_COUNT), and
DISTGRAD_ELASTIC_DIR, a folder in local shared memory kept across the attempts, where
distgrad.distributed.elastic.State commits its snapshots; it is removed when the job ends.
"""
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import NamedTuple, Optional

from .hostfile import HostSpecError, parse_hostfile_text
from .supervise import run_supervised

HEARTBEAT_EXIT = 75  # a survivor that lost a peer exits with this (distgrad.world.liveness)


RAISED, PROCESS_LOST, HOST_LOST = "raised", "process lost", "host lost"


class Loss(NamedTuple):
    rank: Optional[int]
    host: Optional[str]
    reason: str
    kind: str  # RAISED (an exception: the process and host are fine), PROCESS_LOST, HOST_LOST

    @property
    def gone(self):
        return self.kind != RAISED

    def __str__(self):
        who = f"rank {self.rank}" if self.rank is not None else "a rank"
        return f"{who}{f' (host {self.host})' if self.host else ''} {'lost' if self.gone else 'failed'}: {self.reason}"


_HEARTBEAT = re.compile(r"lost contact with rank (\d+) \(host ([^)\s]+)\):?\s*(.*?)(?:; ending the job.*)?$")
_ABORT = re.compile(r"\[rank (\d+)/\d+ (\S+)\] (\S+) on this rank: aborting all ranks")
_MPI_ABORT = re.compile(r"^Abort\(\d+\) on node \d+ \(rank (\d+) in comm 0\): application called MPI_Abort")
_OPENMPI = re.compile(r"process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+)")
_MPICH_HOST = re.compile(r"PID \d+ RUNNING AT (\S+)")
_MPICH_CODE = re.compile(r"EXIT CODE: (\d+)")


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class FailureReader:
    """Fed the job's output line by line; ``losses()`` says what the failure was."""

    def __init__(self):
        self._found, self._banner_host = [], None

    def __call__(self, line):
        """Reads one line; True once a rank is known lost (the job cannot go on: end it)."""
        if match := _HEARTBEAT.search(line):
            # A closed connection was closed by the peer's kernel: its host is alive. Silence,
            # or a peer's word that it lost contact, may be the host itself.
            closed = "connection closed" in match[3]
            self._found.append(Loss(int(match[1]), match[2], match[3] or "no heartbeat",
                                    PROCESS_LOST if closed else HOST_LOST))
        elif match := _ABORT.search(line):
            self._found.append(Loss(int(match[1]), match[2], f"raised {match[3]}", RAISED))
        elif match := _MPI_ABORT.search(line):  # MPICH's line, also for a world of one (no prefix)
            self._found.append(Loss(int(match[1]), None, "called MPI_Abort (an exception?)", RAISED))
        elif match := _OPENMPI.search(line):  # said by Open MPI's daemon on that host: it is alive
            self._found.append(Loss(int(match[1]), match[2], f"killed by {_signal_name(int(match[3]))}",
                                    PROCESS_LOST))
        elif match := _MPICH_HOST.search(line):
            self._banner_host = match[1]
        elif (match := _MPICH_CODE.search(line)) and self._banner_host:
            code, host, self._banner_host = int(match[1]), self._banner_host, None
            if code not in (0, HEARTBEAT_EXIT):  # a survivor's own exit is no loss
                # said by MPICH's proxy on that host: the host is alive
                self._found.append(Loss(None, host, f"killed by {_signal_name(code)}" if code < 64
                                        else f"exit code {code}", PROCESS_LOST if code < 64 else RAISED))
        return any(loss.gone for loss in self._found)

    def losses(self):
        """One loss per rank: the first word about it, unless a later one shows its host alive
        (a lost process, against silence); a host-only report from mpiexec counts only when
        no rank of that host is named."""
        by_rank, hosts_only = {}, []
        for loss in self._found:
            if loss.rank is not None:
                first = by_rank.setdefault(loss.rank, loss)
                if first.kind == HOST_LOST and loss.kind == PROCESS_LOST:
                    by_rank[loss.rank] = loss
            elif loss.host not in [h.host for h in hosts_only]:
                hosts_only.append(loss)
        named_hosts = {loss.host for loss in by_rank.values()}
        return list(by_rank.values()) + [h for h in hosts_only if h.host not in named_hosts]


def discover_hosts(script, timeout=30.0):
    """The hosts the discovery script prints now (``host:slots`` lines)."""
    try:
        done = subprocess.run([script], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HostSpecError(f"--host-discovery-script {script}: cannot run it: {e}") from None
    if done.returncode != 0:
        raise HostSpecError(f"--host-discovery-script {script} failed (exit code {done.returncode}): "
                            f"{done.stderr.strip()[-300:]}")
    return parse_hostfile_text(done.stdout, source=f"--host-discovery-script {script}")


class World(NamedTuple):
    nprocs: int
    hosts: list


def survivors(launched, strikes):
    """The world of the next attempt: the job as launched, less the hosts ``strikes`` keeps out
    (lost ones), at most as many ranks as the hosts left have slots. A job on one host (or on
    the launcher's machine, no host list) keeps it: that host runs the launcher."""
    if len(launched.hosts) < 2:
        return launched
    hosts = strikes.usable(launched.hosts)
    return World(min(launched.nprocs, sum(h.slots for h in hosts)), hosts)


class Strikes:
    """A host lost in an attempt sits out the next one; one lost in two attempts in a row (the
    ones it ran in) is out for the rest of the job. Only silence counts against a host: a
    rank that raised, or a killed process whose host said so, leaves its host in."""

    def __init__(self):
        self.count, self.out, self.resting = {}, set(), set()

    def update(self, ran_on, losses):
        lost = {loss.host for loss in losses if loss.kind == HOST_LOST}
        self.resting = lost
        for host in ran_on:
            self.count[host.name] = self.count.get(host.name, 0) + 1 if host.name in lost else 0
            if self.count[host.name] >= 2:
                self.out.add(host.name)

    def usable(self, hosts):
        return [h for h in hosts if h.name not in self.out | self.resting]


def _say(message):
    print(f"distgrad-run: {message}", file=sys.stderr, flush=True)


def _snapshot_folder(run_id):
    """Local shared memory when the machine has it: commits then cost no disk writes."""
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    folder = os.path.join(root, f"distgrad-elastic-{run_id}")
    os.makedirs(folder, mode=0o700)  # a new name (a random run id): only this user may write there
    return folder


def _attempt_env(env, restarts, max_restarts, run_id, folder):
    own = {"DISTGRAD_RESTART_COUNT": str(restarts), "TORCHELASTIC_RESTART_COUNT": str(restarts),
           "TORCHELASTIC_MAX_RESTARTS": str(max_restarts), "TORCHELASTIC_RUN_ID": run_id,
           "DISTGRAD_ELASTIC_DIR": folder}
    return [(name, value) for name, value in env if name not in own] + list(own.items())


def _discovered(script, strikes, max_np, min_np):
    """The world the discovery script offers now, less the hosts sitting out; None (said why)
    when it has fewer than ``min_np`` slots."""
    hosts = strikes.usable(discover_hosts(script))
    slots = sum(h.slots for h in hosts)
    world = World(min(max_np, slots) if max_np else slots, hosts)
    if world.nprocs < min_np:
        _say(f"the discovery script lists {world.nprocs} usable slot(s), fewer than --min-np {min_np}")
        return None
    return world


def _hosts_text(world):
    return f" on {','.join(f'{h.name}:{h.slots}' for h in world.hosts)}" if world.hosts else ""


def run_elastic(launch, command_of, environ, max_restarts, min_np, discovery=None, max_np=None,
                timeout=None, grace=5.0):
    """Run ``launch`` (its mpiexec argv: ``command_of(launch)``), restarting it on failure. With
    ``discovery``, every restart (and the first attempt, when ``launch`` lists no hosts) runs
    on the hosts it lists then (at most ``max_np`` ranks, -n)."""
    run_id = uuid.uuid4().hex[:12]
    folder = _snapshot_folder(run_id)
    launched = World(launch.nprocs, launch.hosts)
    world, strikes, restarts, started = launched, Strikes(), 0, time.monotonic()
    try:
        if discovery and not launch.hosts:
            world = _discovered(discovery, strikes, max_np, min_np)
            if world is None:
                return 1
        while True:
            attempt = dataclasses.replace(launch, nprocs=world.nprocs, hosts=world.hosts,
                                          env=_attempt_env(launch.env, restarts, max_restarts, run_id, folder))
            reader, outcome = FailureReader(), {}
            left = None if timeout is None else max(timeout - (time.monotonic() - started), 0.001)
            code = run_supervised(command_of(attempt), env=environ, timeout=left, grace=grace,
                                  on_line=reader, outcome=outcome)
            if code == 0 or outcome.get("stopped"):
                return code
            losses = reader.losses()
            strikes.update(world.hosts, losses)
            what = "; ".join(map(str, losses)) or f"the job ended with exit code {code}"
            if restarts >= max_restarts:
                _say(f"failed ({what}); no restarts left (--max-restarts {max_restarts})")
                return code
            if discovery:
                world = _discovered(discovery, strikes, max_np, min_np)
                if world is None:
                    _say(f"failed ({what}); not restarting")
                    return code
            else:
                world = survivors(launched, strikes)
            if world.nprocs < min_np:
                _say(f"failed ({what}); {world.nprocs} rank(s) left, fewer than --min-np {min_np}: "
                     "not restarting")
                return code
            restarts += 1
            _say(f"restart {restarts}/{max_restarts}: {what}; starting again with {world.nprocs} rank(s)"
                 f"{_hosts_text(world)}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
