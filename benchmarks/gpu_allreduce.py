"""All-reduce of GPU tensors: distgrad's dist.all_reduce on a CUDA tensor against raw mpi4py on
host memory (the floor for an MPI that is not CUDA-aware, which must stage through the host),
and raw NCCL when the ranks have a GPU each.

    DISTGRAD_ALLOW_GPU_SHARING=1 mpiexec -n 2 python -m benchmarks.gpu_allreduce   # ranks share a GPU
    mpiexec -n 4 python -m benchmarks.gpu_allreduce --backend nccl                  # 4 GPUs

Rank 0 prints a table; its last line is the JSON (gpu_check.py collects it). Timing as
allreduce.py: interleaved rounds, the slowest rank's mean per call, best round; GPU calls
end each round with a device synchronization.
"""
import argparse
import json
import os

from .lib.allreduce_calls import SIZES, cpu_calls, fmt_size, gpu_calls, rounds_for, summarise
from .lib.collective_timing import MpiGroup, compare


def distgrad_gpu_call(size, dist):
    import cupy
    import distgrad
    tensor = distgrad.zeros(max(1, size // 4), dtype=distgrad.float32, device="cuda")
    return {"distgrad_gpu": lambda: dist.all_reduce(tensor, op="sum")}, {"distgrad_gpu": cupy.cuda.Device().synchronize}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("mpi", "nccl"), default="mpi")
    parser.add_argument("--max-bytes", type=int, default=64 << 20)
    parser.add_argument("--budget", type=float, default=0.02, help="seconds per timed round")
    args = parser.parse_args()
    import distgrad.distributed as dist
    dist.init(args.backend)
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    group = MpiGroup(comm)
    rows = []
    for size in [s for s in SIZES if 1 << 12 <= s <= args.max_bytes]:
        rounds = rounds_for(size)
        measured = compare(group, cpu_calls(size, None), rounds, args.budget)  # raw MPI, host buffer
        if args.backend == "nccl":
            calls, syncs = gpu_calls(size, dist, comm)  # raw NCCL and distgrad on a CUDA tensor
        else:
            calls, syncs = distgrad_gpu_call(size, dist)
        measured.update(compare(group, calls, rounds, args.budget, syncs, warmup=2))
        row = summarise(size, comm.size, measured)
        row["distgrad_gpu_over_host_mpi"] = row["distgrad_gpu"]["time_us"] / row["mpi"]["time_us"]
        rows.append(row)
    if comm.rank != 0:
        return
    print("all-reduce of float32, %d ranks, backend %s (%s)" % (
        comm.size, args.backend, "ranks share GPUs" if os.environ.get("DISTGRAD_ALLOW_GPU_SHARING") else "a GPU each"))
    print("%9s %12s %12s %12s %10s" % ("size", "host mpi us", "distgrad us", "nccl us", "busbw GB/s"))
    for r in rows:
        print("%9s %12.1f %12.1f %12s %10.3f" % (
            fmt_size(r["bytes"]), r["mpi"]["time_us"], r["distgrad_gpu"]["time_us"],
            "%.1f" % r["nccl"]["time_us"] if "nccl" in r else "-", r["distgrad_gpu"]["busbw_GBps"]))
    print(json.dumps({"ranks": comm.size, "backend": args.backend, "rows": rows,
                      "gpu_sharing": bool(os.environ.get("DISTGRAD_ALLOW_GPU_SHARING")),
                      "mpi": MPI.Get_library_version().splitlines()[0].strip()}), flush=True)


if __name__ == "__main__":
    main()
