"""The elastic launcher's decisions, as pure functions: what the job's output says was lost,
and the world of the next attempt."""
from distgrad.launcher.elastic import (HOST_LOST, PROCESS_LOST, RAISED, FailureReader, Loss, Strikes, World,
                                      survivors)
from distgrad.launcher.hostfile import Host


def read(text):
    reader = FailureReader()
    for line in text.splitlines(True):
        reader(line)
    return reader.losses()


MPICH_BANNER = """
===================================================================================
=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES
=   PID 12220 RUNNING AT {host}
=   EXIT CODE: {code}
=   CLEANING UP REMAINING PROCESSES
"""


def test_a_heartbeat_report_names_the_lost_rank_its_host_and_why():
    losses = read("[rank 0/2 vm] lost contact with rank 1 (host vm): its process ended without saying "
                  "goodbye (connection closed; killed or crashed?); ending the job (exit code 75)\n"
                  + MPICH_BANNER.format(host="vm", code=9))
    assert losses == [Loss(1, "vm", "its process ended without saying goodbye (connection closed; killed or "
                                    "crashed?)", PROCESS_LOST)]


def test_the_reader_says_when_the_job_cannot_go_on():
    reader = FailureReader()
    assert not reader("[rank 1/2 vm] ValueError on this rank: aborting all ranks (MPI_Abort)\n")
    assert reader("[rank 0/2 vm] lost contact with rank 1 (host vm): no heartbeat for 5 s; ending the job\n")


def test_mpiexec_banner_alone_names_the_host_and_signal_and_a_survivors_exit_is_no_loss():
    assert read(MPICH_BANNER.format(host="node2", code=9)) == [Loss(None, "node2", "killed by SIGKILL", PROCESS_LOST)]
    assert read(MPICH_BANNER.format(host="node1", code=75)) == []
    assert read("mpiexec noticed that process rank 3 with PID 0 on node n4 exited on signal 9 (Killed).\n") == \
        [Loss(3, "n4", "killed by SIGKILL", PROCESS_LOST)]


def test_an_exception_is_a_failure_but_not_a_lost_rank():
    losses = read("[rank 1/2 vm] ValueError on this rank: aborting all ranks (MPI_Abort)\n"
                  "Abort(1) on node 1 (rank 1 in comm 0): application called MPI_Abort(MPI_COMM_WORLD, 1) - process 1\n")
    assert losses == [Loss(1, "vm", "raised ValueError", RAISED)]
    assert str(losses[0]) == "rank 1 (host vm) failed: raised ValueError"
    alone = read("Abort(1) on node 0 (rank 0 in comm 0): application called MPI_Abort(MPI_COMM_WORLD, 1) - process 0\n")
    assert alone == [Loss(0, None, "called MPI_Abort (an exception?)", RAISED)]


def test_silence_may_be_the_host_but_a_closed_connection_shows_the_host_alive():
    silent = "[rank 0/2 a] lost contact with rank 1 (host b) for 30 s (no heartbeat); ending the job (exit code 75)\n"
    assert read(silent) == [Loss(1, "b", "for 30 s (no heartbeat)", HOST_LOST)]
    relayed = "[rank 2/3 c] rank 0 (host a) ended the job: it lost contact with rank 1 (host b)\n"
    closed = ("[rank 0/3 a] lost contact with rank 1 (host b): its process ended without saying goodbye "
              "(connection closed; killed or crashed?); ending the job (exit code 75)\n")
    assert [loss.kind for loss in read(relayed + closed)] == [PROCESS_LOST]  # the positive word wins
    assert [loss.kind for loss in read(closed + silent)] == [PROCESS_LOST]


def world_after(launched, *attempts):
    """The world survivors() gives after attempts that lost what each lists, on the worlds before."""
    strikes, world = Strikes(), launched
    for losses in attempts:
        strikes.update(world.hosts, losses)
        world = survivors(launched, strikes)
    return world


def test_a_lost_process_or_an_exception_restarts_the_job_as_launched():
    killed, raised = Loss(1, "vm", "killed by SIGKILL", PROCESS_LOST), Loss(0, "vm", "raised ValueError", RAISED)
    for launched in (World(2, []), World(4, [Host("vm", 4)]), World(4, [Host("a", 2), Host("vm", 2)])):
        assert world_after(launched, [killed], [raised], [killed]) == launched


def test_one_machine_keeps_its_ranks_even_when_a_rank_went_silent():
    # the launcher runs on that machine: a silent rank there is a stopped or hung process
    silent = [Loss(1, "vm", "for 30 s (no heartbeat)", HOST_LOST)]
    assert world_after(World(2, []), silent) == World(2, [])
    assert world_after(World(4, [Host("vm", 4)]), silent, silent) == World(4, [Host("vm", 4)])


def test_several_hosts_drop_the_lost_host_which_may_come_back_after_one_attempt():
    launched = World(6, [Host("a", 2), Host("b", 2), Host("c", 2)])
    lost_b = [Loss(None, "b", "for 30 s (no heartbeat)", HOST_LOST)]
    assert world_after(launched, lost_b) == World(4, [Host("a", 2), Host("c", 2)])
    assert world_after(launched, lost_b, []) == launched  # it sat out one attempt
    assert world_after(World(3, launched.hosts), lost_b) == World(3, [Host("a", 2), Host("c", 2)])


def test_a_lost_host_sits_out_one_attempt_and_one_lost_twice_in_a_row_is_out_for_good():
    strikes, hosts = Strikes(), [Host("a", 1), Host("b", 1)]
    strikes.update(hosts, [Loss(None, "b", "no heartbeat", HOST_LOST)])
    assert strikes.usable(hosts) == [Host("a", 1)]  # it sits out the next attempt
    strikes.update([Host("a", 1)], [Loss(0, "a", "raised ValueError", RAISED)])
    assert strikes.usable(hosts) == hosts           # then it may come back
    strikes.update(hosts, [])
    strikes.update(hosts, [Loss(None, "b", "no heartbeat", HOST_LOST)])
    strikes.update([Host("a", 1)], [])
    assert strikes.usable(hosts) == hosts           # lost, then fine: not in a row
    strikes.update(hosts, [Loss(None, "b", "no heartbeat", HOST_LOST)])
    strikes.update([Host("a", 1)], [])
    assert strikes.usable(hosts) == [Host("a", 1)]  # lost in the two attempts it ran in
    strikes.update(hosts, [Loss(0, "a", "killed by SIGKILL", PROCESS_LOST)])
    assert "a" not in strikes.out | strikes.resting  # its host reported the kill: no strike
