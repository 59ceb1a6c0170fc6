"""All-reduce time and bandwidth, 4 B to 256 MB: raw mpi4py, distgrad's dist.all_reduce, NCCL.

    mpiexec -n 2 python benchmarks/allreduce.py     # rank 0 writes results/allreduce_n2.json
    mpiexec -n 3 python benchmarks/allreduce.py     # results/allreduce_n3.json

Bandwidths follow nccl-tests: algbw = bytes / time, busbw = algbw * 2(n-1)/n (the traffic each
link carries in a ring, so it is comparable across rank counts). The raw and the distgrad
rounds are interleaved (same size, alternating order) so that machine noise hits both alike;
each figure is the best round's mean time per call on the slowest rank (the median is kept too).
"mpi_nonblocking" is raw Iallreduce polled with Test() from Python: the floor for any framework
that, like distgrad, starts collectives non-blocking and polls them.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collective_timing import MpiGroup, compare  # noqa: E402
from common import git_revision, single_thread, write_results  # noqa: E402

SIZES = [4 ** k for k in range(1, 15)]    # 4 B ... 256 MB, float32 elements
TARGET_FROM_BYTES = 1 << 20               # the "within 5% of raw MPI" target applies from 1 MB
TARGET_RATIO = 0.95


def bus_factor(n):
    return 2 * (n - 1) / n if n > 1 else 1.0


def rounds_for(nbytes):
    """Many short rounds: on a shared machine the best of many is the least disturbed."""
    return 5 if nbytes >= (64 << 20) else 21


def cpu_calls(size, dist):
    """On the same number of float32 elements: raw mpi4py blocking Allreduce; raw Iallreduce
    finished by polling Test() from Python (the path a non-blocking framework takes: it shows
    what MPICH's non-blocking algorithms and a polling loop cost before any framework code);
    distgrad's all_reduce."""
    import numpy as np
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    raw = np.zeros(max(1, size // 4), np.float32)  # zeros: sums stay finite (no inf/denormals)

    def polled():
        request = comm.Iallreduce(MPI.IN_PLACE, raw)
        while not request.Test():
            pass
    calls = {"mpi": lambda: comm.Allreduce(MPI.IN_PLACE, raw), "mpi_nonblocking": polled}
    if dist is not None:
        import distgrad
        tensor = distgrad.from_numpy(raw)  # the same memory: only the code path differs
        calls["distgrad"] = lambda: dist.all_reduce(tensor, op="sum")
    return calls


def gpu_calls(size, dist, comm):
    """Raw NCCL through CuPy and distgrad's all_reduce on a CUDA tensor (None when no GPUs)."""
    import cupy
    from cupy.cuda import nccl
    nccl_comm = _nccl_communicator(comm)
    buf = cupy.zeros(max(1, size // 4), cupy.float32)
    stream = cupy.cuda.get_current_stream()
    calls = {"nccl": lambda: nccl_comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, nccl.NCCL_FLOAT32,
                                                 nccl.NCCL_SUM, stream.ptr)}
    syncs = {"nccl": stream.synchronize}
    if dist is not None:
        import distgrad
        tensor = distgrad.zeros(buf.size, dtype=distgrad.float32, device="cuda")
        calls["distgrad_gpu"] = lambda: dist.all_reduce(tensor, op="sum")
        syncs["distgrad_gpu"] = cupy.cuda.Device().synchronize
    return calls, syncs


_NCCL = {}


def _nccl_communicator(comm):
    if "comm" not in _NCCL:
        from cupy.cuda import nccl
        uid = comm.bcast(nccl.get_unique_id() if comm.rank == 0 else None, root=0)
        _NCCL["comm"] = nccl.NcclCommunicator(comm.size, uid, comm.rank)
    return _NCCL["comm"]


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


def summarise(size, n, measured):
    row = {"bytes": size}
    for name, m in measured.items():
        algbw = size / m["seconds"] / 1e9
        row[name] = {"time_us": m["seconds"] * 1e6, "median_time_us": m["median_seconds"] * 1e6,
                     "algbw_GBps": algbw, "busbw_GBps": algbw * bus_factor(n), "iters": m["iters"],
                     "rounds": m["rounds"]}
    if "distgrad" in row:
        raw, ours = row["mpi"]["time_us"], row["distgrad"]["time_us"]
        row["distgrad_overhead_us"] = ours - raw
        row["distgrad_busbw_ratio"] = row["distgrad"]["busbw_GBps"] / row["mpi"]["busbw_GBps"]
    return row


def fmt_size(nbytes):
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if nbytes >= scale:
            return "%g %s" % (nbytes / scale, unit)
    return "%d B" % nbytes


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
