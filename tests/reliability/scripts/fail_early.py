"""Rank 1 fails before any distributed call, while rank 0 waits for it inside MPI
initialisation: the whole job must end within seconds, with rank 1's traceback.

    mpiexec -n 2 python fail_early.py HOW WAIT

HOW: raise (an exception while "loading the config"), exit (sys.exit(3)) or signal (SIGTERM).
WAIT: how rank 0 starts MPI: mpi4py (``import mpi4py.MPI``, then a barrier) or init
(``dist.init_process_group()``, then a barrier).
"""
import distgrad  # noqa: F401  (the first line: a rank is covered from here on)
import os
import signal
import sys
import time

from distgrad.utils.ranks import launched_rank_and_size

how, wait = sys.argv[1], sys.argv[2]
rank, _ = launched_rank_and_size()
if rank == 1:
    time.sleep(0.5)  # rank 0 is inside MPI initialisation by now
    print(f"[fail_early rank 1] failing ({how}) t={time.time():.3f}", flush=True)
    if how == "raise":
        raise ValueError("cannot read config.yaml on rank 1")
    if how == "exit":
        sys.exit(3)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)
elif wait == "mpi4py":
    from mpi4py import MPI
    MPI.COMM_WORLD.barrier()
else:
    import distgrad.distributed as dist
    dist.init_process_group()
    dist.barrier()
print(f"rank {rank} passed the barrier", flush=True)
