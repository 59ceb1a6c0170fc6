"""The command a launch runs, as pure functions of the request (no I/O: tests pin them down).

``plan`` turns what the user typed into a ``Launch`` (rank count, hosts, environment);
``build_command`` turns a ``Launch`` into the mpiexec argv for one MPI flavor, and
``plain_command`` into the single-process argv used for debugging.
"""
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .hostfile import Host, format_host_list
from .mpi import MPICH, OPENMPI


class LaunchError(ValueError):
    """A launch request that cannot run as given; the message says how to fix it."""


@dataclass
class Launch:
    program: List[str]                 # e.g. ["train.py", "--lr", "0.1"] or ["-m", "pkg.mod"]
    nprocs: int = 1
    hosts: List[Host] = field(default_factory=list)
    env: List[Tuple[str, str]] = field(default_factory=list)
    oversubscribe: bool = False
    mpi_args: List[str] = field(default_factory=list)
    python: str = "python"

    @property
    def uses_mpiexec(self):
        # One local rank needs no MPI at all: run it as a plain process (pdb works there).
        return self.nprocs > 1 or bool(self.hosts)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def resolve_env(items, environ, debug=False):
    """``-x NAME=VALUE`` sets a value; ``-x NAME`` passes on the launcher's own value."""
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not _ENV_NAME.match(name):
            raise LaunchError(f"-x {item!r}: {name!r} is not a valid environment variable name")
        if not sep:
            if name not in environ:
                raise LaunchError(f"-x {name}: the variable is not set here; "
                                  f"set it or write -x {name}=VALUE")
            value = environ[name]
        pairs[name] = value
    if debug:
        pairs["DISTGRAD_DEBUG"] = "1"
    return list(pairs.items())


def timeline_env(path):
    """--timeline PATH: every rank records (distgrad.profiler's run timeline), rank 0 writes
    PATH, made absolute so a rank in another directory writes the same file."""
    if path is None:
        return {}
    if not path or path.endswith(os.sep):
        raise LaunchError(f"--timeline needs a file path for the trace, got {path!r}")
    return {"DISTGRAD_TIMELINE": os.path.abspath(path)}


# torchrun's defaults for the rendezvous address (distgrad's ranks meet through MPI, but
# scripts read these, e.g. to build an init_method URL).
DEFAULT_MASTER_ADDR = "127.0.0.1"
DEFAULT_MASTER_PORT = 29500


def torchrun_env(hosts, master_addr=None, master_port=None, standalone=False):
    """The variables torchrun gives every rank alike (the per-rank ones come from the
    bootstrap): MASTER_ADDR/PORT (default: the first host, or this machine), no restarts."""
    addr = master_addr or (hosts[0].name if hosts else DEFAULT_MASTER_ADDR)
    port = DEFAULT_MASTER_PORT if master_port is None else master_port
    if not 0 < port < 65536:
        raise LaunchError(f"--master-port must be in 1..65535, got {port}")
    return [("MASTER_ADDR", addr), ("MASTER_PORT", str(port)),
            ("TORCHELASTIC_RESTART_COUNT", "0"), ("TORCHELASTIC_MAX_RESTARTS", "0"),
            ("TORCHELASTIC_RUN_ID", uuid.uuid4().hex if standalone else "none")]


def check_nodes(nnodes, node_rank, standalone, hosts):
    """torchrun's --nnodes/--node-rank/--standalone against the hosts of this launch: one
    distgrad-run starts every node through mpiexec, so it runs once, not on each node."""
    if nnodes is not None and nnodes < 1:
        raise LaunchError(f"--nnodes must be a positive number of nodes, got {nnodes}")
    if standalone and (nnodes or 1) > 1:
        raise LaunchError(f"--standalone is a single-node job, but --nnodes is {nnodes}; "
                          "drop one of them")
    if node_rank:
        raise LaunchError(f"--node-rank {node_rank}: distgrad-run starts the ranks of every node "
                          "from one machine through mpiexec; run it once (node rank 0) and list "
                          "the nodes with -H node1:N,node2:N or --hostfile")
    if nnodes is not None and nnodes > 1 and len(hosts) != nnodes:
        raise LaunchError(f"--nnodes {nnodes} needs the {nnodes} nodes listed with -H or "
                          f"--hostfile (got {len(hosts)}): distgrad-run starts every node from "
                          "this machine through mpiexec, so run it once, not on each node")


# Without a host list, ranks beyond this many per core of this machine need --oversubscribe:
# a typo such as -n 100000 would otherwise start processes until the machine stalls.
OVERSUBSCRIBE_FACTOR = 4


def plan_placement(nprocs: Optional[int], hosts, gpus_per_node: Optional[int],
                   oversubscribe: bool, cores: Optional[int] = None):
    """The rank count and host slots; checks that the ranks fit unless oversubscribing.

    --gpus-per-node N gives every host N slots (one rank per GPU; the library binds each rank
    to a device by its local rank). Without -n, a job fills every slot. Without hosts or
    --gpus-per-node, this machine (``cores`` cores; None: unchecked) has
    OVERSUBSCRIBE_FACTOR slots per core.
    """
    if nprocs is not None and nprocs <= 0:
        raise LaunchError(f"-n must be a positive number of ranks, got {nprocs}")
    if gpus_per_node is not None and gpus_per_node <= 0:
        raise LaunchError(f"--gpus-per-node must be positive, got {gpus_per_node}")
    hosts = list(hosts or [])
    if gpus_per_node is not None:
        hosts = [Host(h.name, gpus_per_node) for h in hosts]
    slots = sum(h.slots for h in hosts) if hosts else gpus_per_node
    if nprocs is None:
        return (slots or 1), hosts
    if slots is None and cores is not None and nprocs > OVERSUBSCRIBE_FACTOR * cores and not oversubscribe:
        raise LaunchError(f"-n {nprocs} is more than {OVERSUBSCRIBE_FACTOR} ranks per core of this "
                          f"machine ({cores} cores); list hosts with -H or --hostfile, or pass "
                          "--oversubscribe if you mean it")
    if slots is not None and nprocs > slots and not oversubscribe:
        where = (f"{len(hosts)} host(s)" if hosts else "this machine") + (
            f" with --gpus-per-node {gpus_per_node}" if gpus_per_node else "")
        raise LaunchError(f"-n {nprocs} asks for more ranks than the {slots} slot(s) of {where}; "
                          "add hosts, raise the slot counts or pass --oversubscribe")
    return nprocs, hosts


def _rank_program(launch):
    # `python -m mpi4py` turns an uncaught exception on any rank into MPI_Abort, so the
    # whole job ends instead of the other ranks waiting forever. The bootstrap sets each
    # rank's RANK/LOCAL_RANK/... before the program starts (mpiexec sets the same for all).
    return [launch.python, "-m", "mpi4py", "-m", "distgrad.launcher.bootstrap", *launch.program]


def build_command(launch: Launch, flavor: str, mpiexec: str = "mpiexec"):
    """The mpiexec argv for ``launch`` with MPICH/Hydra or Open MPI flags."""
    cmd = [mpiexec, "-n", str(launch.nprocs)]
    if flavor == MPICH:
        if launch.hosts:
            # Hydra fills each host's slots in turn and wraps around when the ranks
            # outnumber them, so oversubscription needs no flag.
            cmd += ["-hosts", format_host_list(launch.hosts)]
        for name, value in launch.env:
            cmd += ["-genv", name, value]
    elif flavor == OPENMPI:
        if launch.hosts:
            cmd += ["-H", format_host_list(launch.hosts)]
        if launch.oversubscribe:
            cmd.append("--oversubscribe")
        if not any(arg.lstrip("-") == "bind-to" for arg in launch.mpi_args):
            # Open MPI pins each rank to a core by default and then refuses more ranks than
            # cores, even within the slots given. MPICH does not pin; neither do we: every
            # rank picks its device by local rank, and --mpi-args='--bind-to core' restores it.
            cmd += ["--bind-to", "none"]
        for name, value in launch.env:
            cmd += ["-x", f"{name}={value}"]
    else:
        raise LaunchError(f"unknown MPI flavor {flavor!r} (expected {MPICH!r} or {OPENMPI!r})")
    return cmd + list(launch.mpi_args) + _rank_program(launch)


def plain_command(launch: Launch):
    """The single-process argv: ``python train.py args`` (environment applied separately)."""
    return [launch.python, *launch.program]
