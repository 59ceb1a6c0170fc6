"""The all-reduce calls allreduce.py and gpu_allreduce.py time, message sizes, and the row of
figures (times, nccl-tests bandwidths) each size gets."""

SIZES = [4 ** k for k in range(1, 15)]    # 4 B ... 256 MB, float32 elements


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
