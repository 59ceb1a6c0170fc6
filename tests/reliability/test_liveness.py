"""Lost peers are told from slow ones by heartbeats (the liveness module).

In-process: several Liveness objects of one pretend job talk over the loopback, with a short
timeout and a recording ``end`` in place of os._exit. The tests of the timing rules give them a
ManualClock that moves only when the test says, so no timeout is waited out in real time; the
busy-loop and dead-process tests run on the real clock. Then real jobs under mpiexec: a rank
busy for 12 s (sleeping, then a pure-Python loop) with a 3 s peer timeout must not end the
job; a frozen rank (SIGSTOP: alive for the kernel, so mpiexec sees nothing) must.
"""
import re
import socket
import time

import pytest

from distgrad.world import liveness
from distgrad.world.heartbeat_links import LinkState, local_addresses
from distgrad.world.liveness import EXIT_CODE, Liveness, settings_from_env, watched_peers
from jobs import record, run_job, time_of

TIMEOUT = 1.0  # seconds; short, yet far above any scheduling delay of a thread


class ManualClock:
    """A clock for Liveness that stands still until the test moves it (Group.advance)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Group:
    """One pretend job of ``size`` ranks in this process, all on ``clock``."""

    def __init__(self, size, timeout=TIMEOUT, clock=time.monotonic):
        self.clock = clock
        self.ended, self.messages = {}, {r: [] for r in range(size)}
        self.members = [Liveness(r, size, "testhost", timeout, end=self._ender(r), write=self.messages[r].append,
                                 clock=clock, environ={"DISTGRAD_LIVENESS_ADDRESS": "127.0.0.1"})
                        for r in range(size)]
        for m in self.members:
            m._check = self._noting_checks(m, m._check)
        cards = [m.card() for m in self.members]
        for m in self.members:
            m.start(cards)

    @staticmethod
    def _noting_checks(member, check):
        """The member's verdicts, noting the time of the last one (advance waits for it)."""
        member.checked_at = None

        def noted(now):
            check(now)
            member.checked_at = now
        return noted

    def _ender(self, rank):
        def end(code):
            self.ended[rank] = (code, self.clock())
        return end

    def advance(self, seconds, until=lambda: False):
        """Move the ManualClock on by ``seconds`` (or until ``until()``), one heartbeat interval
        at a time; at each step every running member judges its peers at the new time, beats,
        and hears the running others' beats before the next. Returns ``until()``."""
        interval = self.members[0].interval
        for _ in range(round(seconds / interval)):
            if until():
                break
            self.clock.now += interval
            running = [m for m in self.members if m._thread.is_alive()]
            for m in running:
                m._wake_w.send(b"!")
            assert self.wait_until(lambda: all(
                m.checked_at == self.clock.now or not m._thread.is_alive() for m in running) and all(
                m.peers[p.rank].heard == self.clock.now for m in running for p in running
                if p is not m and p.rank in m.peers and m.peers[p.rank].state == LinkState.OPEN
                and p._thread.is_alive()), 5), \
                "the members did not judge and exchange heartbeats at the new time"
        return until()

    def wait_until(self, condition, seconds):
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        return condition()

    def all_open(self):
        return all(p.state == LinkState.OPEN for m in self.members for p in m.peers.values())

    def freeze(self, rank):
        """The rank's thread stops without a word; its connections stay open (a frozen
        process, or one behind a cut link)."""
        member = self.members[rank]
        member._stopped = True
        member._wake_w.send(b"!")
        member._thread.join(2)

    def crash(self, rank):
        """Its process dies: the kernel closes its connections."""
        self.freeze(rank)
        for peer in self.members[rank].peers.values():
            if peer.sock is not None:
                peer.sock.close()

    def close(self):
        for m in self.members:
            if m._thread.is_alive():
                m._stopped = True
                m._wake_w.send(b"!")
            m._close_all()


@pytest.fixture
def group():
    made = []

    def make(size=3, timeout=TIMEOUT, clock=time.monotonic):
        made.append(Group(size, timeout, clock))
        assert made[-1].wait_until(made[-1].all_open, 5), "the heartbeat connections did not come up"
        return made[-1]
    yield make
    for g in made:
        g.close()


def test_settings_from_the_environment():
    assert settings_from_env({}) == (True, 30.0)
    assert settings_from_env({"DISTGRAD_LIVENESS": "0", "DISTGRAD_PEER_TIMEOUT": "5"}) == (False, 5.0)
    with pytest.raises(ValueError, match="DISTGRAD_PEER_TIMEOUT must be a number of seconds, got 'soon'"):
        settings_from_env({"DISTGRAD_PEER_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="DISTGRAD_PEER_TIMEOUT must be positive"):
        settings_from_env({"DISTGRAD_PEER_TIMEOUT": "0"})


def test_offered_addresses_are_this_hosts_own_with_the_loopback_last():
    assert local_addresses({"DISTGRAD_LIVENESS_ADDRESS": "10.0.0.1, 10.0.0.2"}) == ["10.0.0.1", "10.0.0.2"]
    found = local_addresses({})
    assert found[-1] == "127.0.0.1" and found.count("127.0.0.1") == 1
    for address in found:  # only an address of this host can be bound to
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((address, 0))


@pytest.mark.parametrize("size", [2, 3, 64, 65, 100, 1000])
def test_watched_peers_are_symmetric_connected_and_few_in_large_jobs(size):
    peers = {r: set(watched_peers(r, size)) for r in range(size)}
    assert all(r not in peers[r] for r in range(size))
    assert all(r in peers[p] for r in range(size) for p in peers[r])  # j watches i iff i watches j
    reached, todo = {0}, [0]
    while todo:
        for p in peers[todo.pop()] - reached:
            reached.add(p)
            todo.append(p)
    assert reached == set(range(size))  # news of a rank ending reaches everyone
    if size > 64:
        assert max(map(len, peers.values())) <= 2 * size.bit_length()


@pytest.mark.timeout(30)
def test_healthy_ranks_keep_running_even_when_the_main_thread_busy_loops_in_python(group):
    g = group()
    # The heartbeat threads live in this process: a pure-Python loop in the main thread
    # must still let them run (the interpreter switches threads every few milliseconds).
    end, spins = time.monotonic() + 3 * TIMEOUT, 0
    while time.monotonic() < end:
        spins += 1
    assert g.ended == {}
    assert g.all_open()


@pytest.mark.timeout(30)
def test_a_rank_that_says_goodbye_is_not_reported_lost(group):
    g = group(clock=ManualClock())
    g.members[1].stop()
    g.advance(2 * TIMEOUT)
    assert g.ended == {}
    assert [g.members[r].peers[1].state for r in (0, 2)] == [LinkState.GONE, LinkState.GONE]


@pytest.mark.timeout(30)
def test_a_silent_rank_is_lost_after_the_timeout_and_every_other_rank_ends(group):
    g = group(clock=ManualClock())
    frozen_at = g.clock()
    g.freeze(1)
    assert g.advance(10 * TIMEOUT, until=lambda: {0, 2} <= set(g.ended))
    for r in (0, 2):
        code, when = g.ended[r]
        assert code == EXIT_CODE
        assert when - frozen_at >= 0.8 * TIMEOUT  # silent since its last heartbeat, up to TIMEOUT/10 earlier
        assert len(g.messages[r]) == 1
        message = g.messages[r][0]
        assert message.startswith(f"[rank {r}/3 testhost] lost contact with rank 1 (host testhost)")
        assert message.endswith(f"; ending the job (exit code {EXIT_CODE})\n")
    record("in-process: silent peer detected after (timeout 1 s, manual clock)",
           max(g.ended[r][1] for r in (0, 2)) - frozen_at)


def test_peers_silenced_a_beat_apart_are_named_together(group):
    # A cut link silences several peers, whose last heartbeats landed up to an interval apart.
    g = group(clock=ManualClock())
    g.freeze(1)
    g.advance(g.members[0].interval)
    g.freeze(2)
    assert g.advance(10 * TIMEOUT, until=lambda: 0 in g.ended)
    assert g.messages[0][0].startswith(
        "[rank 0/3 testhost] lost contact with rank 1 (host testhost), rank 2 (host testhost) "
        f"for {TIMEOUT:g} s (no heartbeats)"), g.messages[0]


@pytest.mark.timeout(30)
def test_a_rank_whose_process_dies_is_lost_at_once(group):
    g = group(timeout=30)  # far longer than the test: the closed connection alone tells
    crashed_at = time.monotonic()
    g.crash(2)
    assert g.wait_until(lambda: {0, 1} <= set(g.ended), 5)
    for r in (0, 1):
        assert "lost contact with rank 2 (host testhost): its process ended without saying goodbye" \
            in g.messages[r][0]
    record("in-process: closed connection (dead process) detected after",
           max(g.ended[r][1] for r in (0, 1)) - crashed_at)


@pytest.mark.timeout(30)
def test_an_announced_abort_is_left_to_mpi_abort_for_a_grace_period(group, monkeypatch):
    monkeypatch.setattr(liveness, "ABORT_GRACE", 1.0)
    g = group(timeout=30, clock=ManualClock())
    g.members[1].announce_abort()
    aborted_at = g.clock()
    g.crash(1)  # what MPI_Abort does to it
    assert g.wait_until(lambda: all(g.members[r].peers[1].aborting_since is not None for r in (0, 2)), 5)
    g.advance(0.5)
    assert g.ended == {}  # no "lost contact" noise while the job is being aborted
    assert g.advance(5, until=lambda: {0, 2} <= set(g.ended))  # ... but nobody outlives it for long
    for r in (0, 2):
        assert g.ended[r][1] - aborted_at >= 1.0
        assert "rank 1 (host testhost) ended the job after an error" in g.messages[r][0]


@pytest.mark.timeout(30)
def test_strangers_are_dropped(group):
    g = group(size=2, clock=ManualClock())
    port = g.members[0].card().port
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"DGLV" + bytes(12))  # the right magic, the wrong job token
        s.settimeout(5)
        assert s.recv(100) == b""  # closed on us
    g.advance(2 * TIMEOUT)
    assert g.ended == {} and g.all_open()


@pytest.mark.timeout(30)
def test_an_internal_error_turns_detection_off_instead_of_ending_the_job(group):
    g = group(size=2, clock=ManualClock())
    broken = g.members[1]
    broken._check = None  # the next loop iteration fails
    broken._wake_w.send(b"!")
    assert g.wait_until(lambda: not broken._thread.is_alive(), 5)
    assert "lost-peer detection stopped after an internal error" in g.messages[1][0]
    g.advance(2 * TIMEOUT)
    assert g.ended == {}  # it said goodbye: rank 0 does not take its silence for a loss
    assert g.members[0].peers[1].state == LinkState.GONE


def test_detection_starts_only_when_every_rank_takes_part(capfd, monkeypatch):
    monkeypatch.delenv("DISTGRAD_LIVENESS", raising=False)

    class TwoRanks:  # rank 1 has detection turned off
        rank, size, host, prefix = 0, 2, "testhost", "[rank 0/2 testhost]"

        def allgather_object(self, mine):
            return [mine, (None, "DISTGRAD_LIVENESS=0")]
    assert liveness.start(TwoRanks()) is None and liveness.current() is None
    assert "[rank 0/2 testhost] WARNING: lost-peer detection is off: rank 1: DISTGRAD_LIVENESS=0" in \
        capfd.readouterr().err


# -- real jobs ------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_busy_rank_is_not_lost_the_stall_warning_covers_it(mpiexec):
    # Busy for 4 peer timeouts: 2 asleep, then 2 in a pure-Python loop.
    job = run_job(mpiexec, "--epochs", 2, "--fault", "busy", "--fault-rank", 0, "--fault-step", 3, "--busy", 12,
                  env=dict(DISTGRAD_PEER_TIMEOUT=3, DISTGRAD_STALL_WARNING_SECONDS=3), timeout=90)
    assert job.returncode == 0, job.output
    assert "lost contact" not in job.output
    assert job.output.count("done: 16 steps") == 2
    # Rank 1 waits in the all-reduce meanwhile, and says who it waits for.
    assert re.search(r"\[rank 1/2 \S+\] WARNING: stall: all_reduce", job.output)
    assert "ranks that have not arrived: rank 0 (no answer" in job.output
    record("rank 0 busy 12 s (peer timeout 3 s): the job completed, in", job.seconds)


@pytest.mark.timeout(120)
def test_a_frozen_rank_is_lost_even_though_mpiexec_sees_nothing(mpiexec):
    job = run_job(mpiexec, "--epochs", 50, "--fault", "stop", "--fault-rank", 1, "--fault-step", 3, ranks=3,
                  env=dict(DISTGRAD_PEER_TIMEOUT=3), timeout=60)
    # The ranks that notice exit with 75; mpiexec passes that on, or the SIGKILL (9) it sends
    # the frozen rank when it collects that process first (a race inside mpiexec).
    assert job.returncode in (EXIT_CODE, 9), job.output
    assert job.lines(rf"ending the job \(exit code {EXIT_CODE}\)"), job.output
    # The first rank to notice ends the job; mpiexec may take the other down before it speaks.
    assert job.lines(r"^\[rank [02]/3 \S+\] lost contact with rank 1 \(host \S+\)"), job.output
    assert not job.lines(r"lost contact with rank [02]"), job.output
    stopped_at = time_of(job.output, r"fault stop")
    record("SIGSTOPped rank (3 ranks, peer timeout 3 s): job ended after", job.ended - stopped_at)

