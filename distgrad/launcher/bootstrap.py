"""Each rank's entry point under distgrad-run: ``python -m mpi4py -m distgrad.launcher.bootstrap
SCRIPT [ARGS]`` (or ``-m MODULE [ARGS]``).

It exports torchrun's per-rank variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
GROUP_RANK, ROLE_RANK, ...) from the MPI world, then runs the program as ``python SCRIPT``
would, so ``os.environ["LOCAL_RANK"]`` is valid at the top of a script, before it imports
distgrad. mpiexec can only give every rank the same environment, hence this step.
"""
import os
import runpy
import sys


def torchrun_variables(rank, size, local_rank, local_size, node_rank, nodes):
    """torchrun's per-rank environment (one role, no restarts)."""
    return {"RANK": str(rank), "WORLD_SIZE": str(size),
            "LOCAL_RANK": str(local_rank), "LOCAL_WORLD_SIZE": str(local_size),
            "GROUP_RANK": str(node_rank), "GROUP_WORLD_SIZE": str(nodes),
            "ROLE_RANK": str(rank), "ROLE_WORLD_SIZE": str(size), "ROLE_NAME": "default"}


def mpi_placement(comm):
    """(rank, size, local rank, local size, node rank, nodes) of this process in ``comm``:
    ranks sharing memory are one node, numbered in the order of their lowest rank."""
    from mpi4py import MPI  # deferred: importing mpi4py starts MPI, and distgrad-run's launcher imports this module
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.rank)
    try:
        lowest = local.allreduce(comm.rank, op=MPI.MIN)
        leaders = sorted(set(comm.allgather(lowest)))
        return (comm.rank, comm.size, local.rank, local.size, leaders.index(lowest), len(leaders))
    finally:
        local.Free()


def run_program(program):
    """Run ``[script, args...]`` or ``["-m", module, args...]`` as the main module."""
    if program[:1] == ["-m"]:
        sys.argv = program[1:]
        runpy.run_module(program[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(program)
        sys.path.insert(0, os.path.dirname(os.path.abspath(program[0])))
        runpy.run_path(program[0], run_name="__main__")


def main(program):
    if not program or program == ["-m"]:
        sys.exit("distgrad.launcher.bootstrap: no program: give SCRIPT [ARGS] or -m MODULE [ARGS]")
    from mpi4py import MPI  # deferred: importing mpi4py starts MPI, and distgrad-run's launcher imports this module
    os.environ.update(torchrun_variables(*mpi_placement(MPI.COMM_WORLD)))
    run_program(program)


if __name__ == "__main__":
    main(sys.argv[1:])
