"""What checking every collective across ranks costs (distgrad/world/comm/verify.py).

    mpiexec -n 2 python -m benchmarks.verification    # rank 0 writes results/verification_n2.json

Per message size, interleaved rounds (collective_timing.compare) of three all-reduces of the
same float32 array on the MPI communicator: "verified", the call as it is; "unverified", the
same call without the check (numbering, Iallreduce, the Waiter's polling: the path before
verification, assembled from the communicator's own parts); "raw", Iallreduce polled from
Python. Blocking (dist.all_reduce's path) and in flight (a Work, the path DDP's buckets take).

Then the 2-rank DDP training step of the seed MLP at batch 128, and the share of it the
verification takes: the collectives one step starts (counted by wrapping the communicator's
``begin``) each cost their size's verified-minus-unverified time. Targets (issue 14): at most
1 us per 4-byte all-reduce, at most 2% of that DDP step.
"""
import argparse

import numpy as np

from .lib.collective_timing import MpiGroup, compare
from .lib.common import git_revision, single_thread, write_results
from .lib.networks import training_step

SIZES = (4, 64, 112, 1024, 407080, 4 << 20)  # 112 B: the most a slot carries; 407,080 B: the seed MLP's gradients
TARGET_SMALL_US, TARGET_STEP_SHARE, STEP_BATCH = 1.0, 0.02, 128


def all_reduce_calls(comm, nbytes):
    from mpi4py import MPI

    from distgrad.world.comm.base import Work

    array = np.zeros(max(1, nbytes // 4), np.float32)

    def unverified():
        seq, what = comm.begin("all_reduce", array, op="sum", element=None)
        comm.waiter.wait(comm.comm.Iallreduce(MPI.IN_PLACE, array, MPI.SUM).Test, seq, what)

    def unverified_work():
        seq, what = comm.begin("all_reduce", array, op="sum", element=None)
        Work(comm.comm.Iallreduce(MPI.IN_PLACE, array, MPI.SUM).Test, None, comm.waiter, seq, what).wait()

    def raw():
        request = comm.comm.Iallreduce(MPI.IN_PLACE, array, MPI.SUM)
        while not request.Test():
            pass
    return {"verified": lambda: comm.allreduce(array), "unverified": unverified,
            "verified_work": lambda: comm.iallreduce(array).wait(), "unverified_work": unverified_work, "raw": raw}


def step_collectives(comm, step):
    """The sizes (bytes) of the collectives one training step starts."""
    sizes, begin = [], comm.begin

    def counted(kind, array=None, **details):
        sizes.append(0 if array is None else array.nbytes)
        return begin(kind, array, **details)
    comm.begin = counted
    try:
        step()
    finally:
        del comm.begin
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--budget", type=float, default=0.03, help="seconds per timed round")
    args = parser.parse_args()
    single_thread()
    import distgrad as dg
    import distgrad.distributed as dist
    import distgrad.nn as nn
    from distgrad import optim
    dist.init()
    comm, group = dist.communicator(), MpiGroup()
    rows = []
    for nbytes in SIZES:
        measured = compare(group, all_reduce_calls(comm, nbytes), args.rounds, args.budget, warmup=3)
        us = {name: m["seconds"] * 1e6 for name, m in measured.items()}
        rows.append({"bytes": nbytes, "us": us, "added_us": us["verified"] - us["unverified"],
                     "added_work_us": us["verified_work"] - us["unverified_work"]})
    step, _ = training_step(dg, nn, optim, STEP_BATCH, comm.rank, wrap_model=dist.DistributedDataParallel)
    step()  # the first step rebuilds the buckets
    sizes = step_collectives(comm, step)
    step_s = compare(group, {"ddp_step": step}, args.rounds, 0.1)["ddp_step"]["seconds"]
    added = {r["bytes"]: r["added_work_us"] for r in rows}
    step_added_us = sum(added[min(added, key=lambda b: abs(b - s))] for s in sizes)  # nearest measured size
    if comm.rank != 0:
        return
    small = rows[0]["added_us"]
    share = step_added_us / (step_s * 1e6)
    print("verification cost, %d ranks, float32 all-reduce, best of interleaved rounds (slowest rank)" % comm.size)
    print("%9s %10s %10s %8s %8s %12s %12s %8s" % ("bytes", "verified", "unverif.", "added", "raw", "Work verif.",
                                                   "Work unver.", "added"))
    for r in rows:
        u = r["us"]
        print("%9d %10.1f %10.1f %+8.1f %8.1f %12.1f %12.1f %+8.1f" % (
            r["bytes"], u["verified"], u["unverified"], r["added_us"], u["raw"], u["verified_work"],
            u["unverified_work"], r["added_work_us"]))
    print("DDP step (seed MLP, batch %d): %.3f ms; collectives per step: %s bytes; verification adds about "
          "%.1f us = %.2f%% (target <= %.0f%%); 4-byte all-reduce: %+.1f us (target <= %.1f us)" % (
              STEP_BATCH, step_s * 1e3, sizes, step_added_us, 100 * share, 100 * TARGET_STEP_SHARE, small,
              TARGET_SMALL_US))
    print("wrote", write_results("verification_n%d" % comm.size, {
        "ranks": comm.size, "git": git_revision(), "rows": rows, "ddp_step_ms": step_s * 1e3,
        "ddp_step_collective_bytes": sizes, "ddp_step_added_us": step_added_us, "ddp_step_share": share,
        "small_added_us": small, "targets": {"small_us": TARGET_SMALL_US, "step_share": TARGET_STEP_SHARE},
        "met": {"small": small <= TARGET_SMALL_US, "step": share <= TARGET_STEP_SHARE},
        "method": "best of interleaved rounds; a round is the slowest rank's mean time per call"}))


if __name__ == "__main__":
    main()
