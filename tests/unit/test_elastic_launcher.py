"""The elastic launcher's decisions, as pure functions: what the job's output says was lost,
and the world of the next attempt."""
from distgrad.launcher.elastic import FailureReader, Loss, Strikes, World, survivors
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
                                    "crashed?)", True)]


def test_the_reader_says_when_the_job_cannot_go_on():
    reader = FailureReader()
    assert not reader("[rank 1/2 vm] ValueError on this rank: aborting all ranks (MPI_Abort)\n")
    assert reader("[rank 0/2 vm] lost contact with rank 1 (host vm): no heartbeat for 5 s; ending the job\n")


def test_mpiexec_banner_alone_names_the_host_and_signal_and_a_survivors_exit_is_no_loss():
    assert read(MPICH_BANNER.format(host="node2", code=9)) == [Loss(None, "node2", "killed by SIGKILL", True)]
    assert read(MPICH_BANNER.format(host="node1", code=75)) == []
    assert read("mpiexec noticed that process rank 3 with PID 0 on node n4 exited on signal 9 (Killed).\n") == \
        [Loss(3, "n4", "killed by SIGKILL", True)]


def test_an_exception_is_a_failure_but_not_a_lost_rank():
    losses = read("[rank 1/2 vm] ValueError on this rank: aborting all ranks (MPI_Abort)\n"
                  "Abort(1) on node 1 (rank 1 in comm 0): application called MPI_Abort(MPI_COMM_WORLD, 1) - process 1\n")
    assert losses == [Loss(1, "vm", "raised ValueError", False)]
    assert str(losses[0]) == "rank 1 (host vm) failed: raised ValueError"
    alone = read("Abort(1) on node 0 (rank 0 in comm 0): application called MPI_Abort(MPI_COMM_WORLD, 1) - process 0\n")
    assert alone == [Loss(0, None, "called MPI_Abort (an exception?)", False)]
    world = World(2, [])
    assert survivors(world, losses) == world


def test_one_machine_loses_one_rank_per_lost_rank():
    gone = [Loss(1, "vm", "killed", True)]
    assert survivors(World(2, []), gone) == World(1, [])
    assert survivors(World(4, [Host("vm", 4)]), gone + [Loss(2, "vm", "killed", True)]) == \
        World(2, [Host("vm", 2)])


def test_several_hosts_drop_the_lost_host():
    world = World(6, [Host("a", 2), Host("b", 2), Host("c", 2)])
    assert survivors(world, [Loss(None, "b", "killed by SIGKILL", True)]) == World(4, [Host("a", 2), Host("c", 2)])


def test_a_lost_host_sits_out_one_attempt_and_one_lost_twice_in_a_row_is_out_for_good():
    strikes, hosts = Strikes(), [Host("a", 1), Host("b", 1)]
    strikes.update(hosts, [Loss(None, "b", "killed", True)])
    assert strikes.usable(hosts) == [Host("a", 1)]  # it sits out the next attempt
    strikes.update([Host("a", 1)], [Loss(0, "a", "raised ValueError", False)])
    assert strikes.usable(hosts) == hosts           # then it may come back
    strikes.update(hosts, [])
    strikes.update(hosts, [Loss(None, "b", "killed", True)])
    strikes.update([Host("a", 1)], [])
    assert strikes.usable(hosts) == hosts           # lost, then fine: not in a row
    strikes.update(hosts, [Loss(None, "b", "killed", True)])
    strikes.update([Host("a", 1)], [])
    assert strikes.usable(hosts) == [Host("a", 1)]  # lost in the two attempts it ran in
