"""distgrad-run: start a training script on N ranks through the installed MPI's mpiexec.

    distgrad-run -n 4 train.py --epochs 2           # 4 ranks on this machine
    distgrad-run -H node1:4,node2:4 train.py         # 8 ranks on two machines
    distgrad-run --hostfile hosts --gpus-per-node 8 train.py
    distgrad-run train.py                            # one plain process: pdb works
    distgrad-run -n 2 --dry-run train.py             # print the mpiexec command only
    distgrad-run --nproc-per-node 4 train.py         # torchrun's flags work too
    distgrad-run -n 4 --max-restarts 3 --min-np 2 train.py   # restart on failure, on the ranks left

Each rank sees torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
GROUP_RANK, ROLE_RANK, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_*) from its first line on.

Ranks run as ``python -m mpi4py -m distgrad.launcher.bootstrap train.py``, so an exception on any rank ends the whole job.
The exit code is the job's (124 after --timeout, 128+N after signal N).
"""
import argparse
import math
import os
import shlex
import sys

from .launcher.bootstrap import torchrun_variables
from .launcher.elastic import run_elastic
from .launcher.command import OVERSUBSCRIBE_FACTOR, Launch, LaunchError, build_command, check_nodes, \
    plain_command, plan_placement, resolve_env, timeline_env, torchrun_env
from .launcher.hostfile import HostSpecError, parse_host_list, parse_hostfile
from .launcher.mpi import FLAVORS, MPIError, detect_flavor, find_mpiexec
from .launcher.supervise import run_supervised
from .profiler.run_timeline import discard as discard_timeline

PROG = "distgrad-run"


def ranks_per_node(text):
    """A count, or torchrun's "gpu" (one per GPU), "cpu" (one per core), "auto" (gpu, else cpu)."""
    if text in ("gpu", "auto"):
        from .backend import cuda  # deferred: probes CuPy, which the launcher needs only for "gpu"/"auto"
        gpus = cuda.device_count() if cuda.is_available() else 0
        if gpus or text == "gpu":
            if not gpus:
                raise argparse.ArgumentTypeError("'gpu': no GPU is available here")
            return gpus
    if text in ("cpu", "auto"):
        return os.cpu_count() or 1
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, 'gpu', 'cpu' or 'auto', got {text!r}") \
            from None

# (flags, argparse keywords): the one list both the parser and the argv splitter read.
OPTIONS = [
    (("-n", "-np"), dict(dest="nprocs", type=int, metavar="N",
                         help="number of ranks (default: every host slot; without hosts, 1 "
                              "plain process)")),
    (("-H", "--hosts"), dict(dest="hosts", metavar="HOST[:N],...",
                             help="machines and their slot counts, e.g. node1:4,node2:4")),
    (("--hostfile",), dict(metavar="FILE", help="one 'host', 'host:N' or 'host slots=N' a line")),
    (("--gpus-per-node", "--nproc-per-node", "--nproc_per_node"),
     dict(dest="gpus_per_node", type=ranks_per_node, metavar="N",
          help="ranks per host, one per GPU (the library picks each rank's GPU from its local "
               "rank); without hosts, N ranks on this machine")),
    # torchrun's node flags: one distgrad-run starts every node, so these are checked only.
    (("--nnodes",), dict(type=int, metavar="N", help="number of nodes (list them with -H)")),
    (("--node-rank", "--node_rank"), dict(dest="node_rank", type=int, default=0, metavar="0",
                                          help="accepted for torchrun's sake; only 0")),
    (("--standalone",), dict(action="store_true", help="single-node job (torchrun's flag)")),
    (("--master-addr", "--master_addr"), dict(dest="master_addr", metavar="ADDR",
                                              help="MASTER_ADDR of every rank (default: the "
                                                   "first host, else 127.0.0.1)")),
    (("--master-port", "--master_port"), dict(dest="master_port", type=int, metavar="PORT",
                                              help="MASTER_PORT of every rank (default 29500)")),
    (("--oversubscribe",), dict(action="store_true",
                                help="allow more ranks than host slots (without hosts: more "
                                     f"than {OVERSUBSCRIBE_FACTOR} per core of this machine)")),
    (("-x", "--env"), dict(dest="env", action="append", default=[], metavar="NAME[=VALUE]",
                           help="pass an environment variable to every rank (repeatable); "
                                "without =VALUE, its value here")),
    (("--debug",), dict(action="store_true", help="set DISTGRAD_DEBUG=1 on every rank")),
    (("--timeout",), dict(type=float, metavar="SECONDS",
                          help="end the job (exit code 124) if it runs longer than this")),
    (("--grace",), dict(type=float, default=5.0, metavar="SECONDS",
                        help="after Ctrl-C, SIGTERM or --timeout, wait this long for the ranks "
                             "to stop before killing them (default 5)")),
    (("--mpiexec",), dict(metavar="PATH", help="mpiexec to use (also $DISTGRAD_MPIEXEC; default: "
                                               "the one next to this Python, else on PATH)")),
    (("--mpi",), dict(choices=("auto",) + FLAVORS, default="auto",
                      help="MPI flavor of mpiexec (default: ask 'mpiexec --version')")),
    (("--mpi-args",), dict(action="append", default=[], metavar="'ARGS'",
                           help="extra mpiexec arguments, shell-quoted, e.g. "
                                "--mpi-args='-launcher ssh'")),
    (("--python",), dict(default=sys.executable, metavar="PATH",
                         help="Python interpreter of the ranks (default: this one)")),
    (("--max-restarts", "--max_restarts"), dict(dest="max_restarts", type=int, metavar="K",
                                                help="elastic job: after a failure, start the job again on "
                                                     "the ranks and hosts left, up to K times")),
    (("--min-np",), dict(dest="min_np", type=int, default=1, metavar="M",
                         help="elastic job: restart only while at least M ranks remain (default 1)")),
    (("--host-discovery-script",), dict(dest="discovery", metavar="SCRIPT",
                                        help="elastic job: a program printing 'host:slots' lines, run "
                                             "before each restart (hosts may leave, come back or join) "
                                             "and, without -H/--hostfile, before the first attempt")),
    (("--timeline",), dict(metavar="TRACE.json",
                           help="record every rank's forward and backward passes, collectives, optimizer steps and "
                                "data loading (every op too with -x DISTGRAD_TIMELINE_OPS=1); rank 0 writes "
                                "one Chrome trace (Perfetto) at exit (sets DISTGRAD_TIMELINE)")),
    (("--dry-run",), dict(action="store_true",
                          help="print the command that would run, and exit")),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, as every other launcher error (argparse adds the whole usage text).
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _parser():
    parser = _Parser(
        prog=PROG, usage=f"{PROG} [options] (SCRIPT | -m MODULE) [ARGS ...]",
        description=__doc__.split("\n\n")[0],
        epilog="Options go before the script; everything after it is the script's.")
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)
    return parser


_TAKES_VALUE = {flag for flags, kwargs in OPTIONS if kwargs.get("action") != "store_true"
                for flag in flags}


def split_argv(argv):
    """(launcher options, program) where program is [script, args...] or ["-m", module, ...].

    The program starts at the first word that is not an option or an option's value, so the
    script's own options are never mistaken for the launcher's.
    """
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return argv[:i], argv[i + 1:]
        if word == "-m":
            return argv[:i], argv[i:]
        if not word.startswith("-") or word == "-":
            return argv[:i], argv[i:]
        # "--timeout=5" and "-n4" carry their value; "-n 4" takes the next word.
        attached = "=" in word or (word not in _TAKES_VALUE and word[:2] in _TAKES_VALUE)
        i += 2 if word in _TAKES_VALUE and not attached else 1
    return argv, []


def _hosts(opts):
    if opts.hosts is not None and opts.hostfile is not None:
        raise LaunchError("give the hosts either with -H or with --hostfile, not both")
    if opts.hosts is not None:
        return parse_host_list(opts.hosts)  # -H "" is an empty list, refused there
    if opts.hostfile is not None:
        return parse_hostfile(opts.hostfile)
    return []


def _check_seconds(flag, value, zero_ok):
    # NaN compares false with everything, so it would slip past a plain "<= 0" test.
    if value is not None and not (math.isfinite(value) and (value >= 0 if zero_ok else value > 0)):
        raise LaunchError(f"{flag} must {'not be negative' if zero_ok else 'be positive'} "
                          f"(a finite number of seconds), got {value:g}")


def _split_mpi_args(texts):
    try:
        return [word for text in texts for word in shlex.split(text)]
    except ValueError as e:  # an unbalanced quote
        raise LaunchError(f"--mpi-args: cannot split {' '.join(texts)!r} into words: {e}") from None


def _cores():
    """The cores this process may run on (its affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def make_launch(opts, program, environ):
    if not program or program == ["-m"]:
        raise LaunchError("no program to run: give a script (or -m MODULE) after the options")
    _check_seconds("--timeout", opts.timeout, zero_ok=False)
    _check_seconds("--grace", opts.grace, zero_ok=True)
    hosts = _hosts(opts)
    check_nodes(opts.nnodes, opts.node_rank, opts.standalone, hosts)
    nprocs, hosts = plan_placement(opts.nprocs, hosts, opts.gpus_per_node, opts.oversubscribe,
                                   cores=_cores())
    mpi_args = _split_mpi_args(opts.mpi_args)
    env = dict(torchrun_env(hosts, opts.master_addr, opts.master_port, opts.standalone))
    env.update(timeline_env(opts.timeline))
    env.update(resolve_env(opts.env, environ, debug=opts.debug))  # -x NAME=VALUE wins
    return Launch(program=list(program), nprocs=nprocs, hosts=hosts, env=list(env.items()),
                  oversubscribe=opts.oversubscribe, mpi_args=mpi_args, python=opts.python)


def _rank_environment(environ, launch):
    """The environment mpiexec hands on to the ranks. Unless the user chose, each rank gets
    one BLAS/OpenMP thread (as torchrun does): several ranks per host each starting a thread
    per core oversubscribe the cores and run many times slower."""
    if "OMP_NUM_THREADS" in environ or any(name == "OMP_NUM_THREADS" for name, _ in launch.env):
        return environ
    sys.stderr.write(f"{PROG}: setting OMP_NUM_THREADS=1 for each rank (set it yourself to choose "
                     "another number of threads per rank)\n")
    return dict(environ, OMP_NUM_THREADS="1")


def _mpi_command(opts, launch, environ):
    mpiexec = find_mpiexec(opts.mpiexec, environ)
    flavor = detect_flavor(mpiexec) if opts.mpi == "auto" else opts.mpi
    return build_command(launch, flavor, mpiexec)


def _run(cmd, env, opts, replace_process):
    if opts.dry_run:
        print(shlex.join(cmd))
        return 0
    if replace_process and opts.timeout is None:
        # The single-process path becomes the script itself: same pid, same terminal,
        # so breakpoints and Ctrl-C behave exactly as with plain `python train.py`.
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvpe(cmd[0], cmd, env)
        except OSError as e:
            raise LaunchError(f"cannot run {cmd[0]}: {e.strerror}") from None
    return run_supervised(cmd, env=env, timeout=opts.timeout, grace=opts.grace)


def _run_elastic(opts, launch, environ):
    if (opts.max_restarts or 0) < 0 or opts.min_np < 1:
        raise LaunchError(f"--max-restarts must not be negative and --min-np must be positive, got "
                          f"{opts.max_restarts} and {opts.min_np}")
    return run_elastic(launch, lambda attempt: _mpi_command(opts, attempt, environ),
                       _rank_environment(environ, launch), opts.max_restarts or 0, opts.min_np,
                       discovery=opts.discovery, max_np=opts.nprocs, timeout=opts.timeout, grace=opts.grace)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    discard_timeline()  # DISTGRAD_TIMELINE is the ranks' to record, not this launcher's
    parser = _parser()
    own, program = split_argv(argv)
    opts = parser.parse_args(own)
    environ = dict(os.environ)
    try:
        launch = make_launch(opts, program, environ)
        if (opts.max_restarts is not None or opts.discovery) and not opts.dry_run:
            return _run_elastic(opts, launch, environ)
        if launch.uses_mpiexec:
            return _run(_mpi_command(opts, launch, environ), _rank_environment(environ, launch),
                        opts, replace_process=False)
        # A world of one: the per-rank variables are known here, no bootstrap needed.
        own_env = dict(torchrun_variables(0, 1, 0, 1, 0, 1), **dict(launch.env))
        env = dict(environ, **own_env)
        cmd = plain_command(launch)
        if opts.dry_run:
            cmd = ["env", *(f"{k}={v}" for k, v in own_env.items()), *cmd]
        return _run(cmd, env, opts, replace_process=True)
    except (LaunchError, HostSpecError, MPIError) as e:
        parser.exit(2, f"{PROG}: error: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
