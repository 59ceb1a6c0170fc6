"""All-reduce time and bandwidth, 4 B to 256 MB: raw mpi4py, distgrad's dist.all_reduce, NCCL.

    mpiexec -n 2 python -m benchmarks.allreduce     # rank 0 writes results/allreduce_n2.json
    mpiexec -n 3 python -m benchmarks.allreduce     # results/allreduce_n3.json

Bandwidths follow nccl-tests: algbw = bytes / time, busbw = algbw * 2(n-1)/n (the traffic each
link carries in a ring, so it is comparable across rank counts). The raw and the distgrad
rounds are interleaved (same size, alternating order) so that machine noise hits both alike;
each figure is the best round's mean time per call on the slowest rank (the median is kept too).
"mpi_nonblocking" is raw Iallreduce polled with Test() from Python: the floor for any framework
that, like distgrad, starts collectives non-blocking and polls them.
"""
import argparse
import os

from .lib.allreduce_calls import SIZES, bus_factor, cpu_calls, fmt_size, gpu_calls, rounds_for, summarise
from .lib.collective_timing import MpiGroup, compare
from .lib.common import git_revision, single_thread, write_results

TARGET_FROM_BYTES = 1 << 20               # the "within 5% of raw MPI" target applies from 1 MB
TARGET_RATIO = 0.95


def gpu_skip_reason(comm):
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # ImportError, or CuPy without a driver
        return "no CuPy/CUDA (%s)" % type(exc).__name__
    if count < 2:
        return "%d GPU(s) visible; NCCL needs >= 2" % count
    cupy.cuda.Device(comm.rank % count).use()
    return None


def load_dist():
    """distgrad.distributed, initialised; or (None, reason) when it cannot be used."""
    try:
        import distgrad.distributed as dist
        dist.init()
        return dist, None
    except Exception as exc:
        return None, "%s: %s" % (type(exc).__name__, exc)


def print_table(rows, n):
    print("all-reduce, %d ranks, float32, best of interleaved rounds (slowest rank)" % n)
    print("%9s %11s %9s %11s %13s %9s %13s %8s" % ("size", "mpi us", "busbw", "Iallred us", "distgrad us",
                                                 "busbw", "overhead us", "dg/mpi"))
    for r in rows:
        dg = r.get("distgrad")
        print("%9s %11.1f %9.3f %11.1f %13s %9s %13s %8s" % (
            fmt_size(r["bytes"]), r["mpi"]["time_us"], r["mpi"]["busbw_GBps"], r["mpi_nonblocking"]["time_us"],
            "%.1f" % dg["time_us"] if dg else "-", "%.3f" % dg["busbw_GBps"] if dg else "-",
            "%+.1f" % r["distgrad_overhead_us"] if dg else "-",
            "%.3f" % r["distgrad_busbw_ratio"] if dg else "-"))
    gpu_rows = [r for r in rows if "nccl" in r]
    for r in gpu_rows:
        extra = r.get("distgrad_gpu")
        print("%9s nccl %.1f us busbw %.2f GB/s%s" % (fmt_size(r["bytes"]), r["nccl"]["time_us"],
              r["nccl"]["busbw_GBps"], "; distgrad %.1f us busbw %.2f GB/s" % (
                  extra["time_us"], extra["busbw_GBps"]) if extra else ""))


def check_target(rows):
    """distgrad's bus bandwidth within 5% of raw mpi4py for every message of 1 MB and more."""
    big = [r for r in rows if r["bytes"] >= TARGET_FROM_BYTES and "distgrad" in r]
    if not big:
        return {"met": None, "reason": "distgrad not measured"}
    worst = min(big, key=lambda r: r["distgrad_busbw_ratio"])
    met = worst["distgrad_busbw_ratio"] >= TARGET_RATIO
    print("target: distgrad busbw >= %.0f%% of raw mpi4py for sizes >= 1 MB: %s (worst %.3f at %s)" % (
        TARGET_RATIO * 100, "MET" if met else "MISSED", worst["distgrad_busbw_ratio"], fmt_size(worst["bytes"])))
    return {"met": met, "worst_ratio": worst["distgrad_busbw_ratio"], "worst_bytes": worst["bytes"],
            "threshold": TARGET_RATIO, "from_bytes": TARGET_FROM_BYTES}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-bytes", type=int, default=SIZES[-1],
                        help="stop at this size (a partial sweep is printed, not written)")
    parser.add_argument("--budget", type=float, default=0.03, help="seconds per timed round")
    args = parser.parse_args()
    single_thread()
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    group = MpiGroup(comm)
    n = comm.size
    dist, dist_reason = load_dist()
    gpu_reason = gpu_skip_reason(comm)
    rows = []
    for size in [s for s in SIZES if s <= args.max_bytes]:
        measured = compare(group, cpu_calls(size, dist), rounds_for(size), args.budget, warmup=2)
        if gpu_reason is None:
            calls, syncs = gpu_calls(size, dist, comm)
            measured.update(compare(group, calls, rounds_for(size), args.budget, syncs))
        rows.append(summarise(size, n, measured))
    if comm.rank != 0:
        return
    if dist is None:
        print("distgrad.distributed not measured:", dist_reason)
    print("NCCL:", "skipped, " + gpu_reason if gpu_reason else "measured")
    print_table(rows, n)
    target = check_target(rows)
    if args.max_bytes < SIZES[-1]:
        return
    path = write_results("allreduce_n%d" % n, {
        "ranks": n, "dtype": "float32", "git": git_revision(), "rows": rows, "target": target,
        "busbw_factor": bus_factor(n), "distgrad_skipped": dist_reason, "nccl_skipped": gpu_reason,
        "oversubscribed": n > (os.cpu_count() or 1),
        "method": "best of interleaved rounds; a round is the slowest rank's mean time per call"})
    print("wrote", path)


if __name__ == "__main__":
    main()
