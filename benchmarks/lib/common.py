"""Shared benchmark plumbing: one-thread setup, timing, machine facts, JSON results."""
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def single_thread():
    """Pin BLAS and OpenMP to one thread: every figure here is per thread (per rank)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass


def best_ms(fn, repeat=7, number=None, min_time=0.2):
    """The best of ``repeat`` runs' mean time of ``number`` calls, in milliseconds (other
    programs on a shared machine only ever add time, as in every benchmark here). ``number``
    is chosen so each run lasts about ``min_time`` seconds."""
    fn()
    if number is None:
        number, elapsed = 1, 0.0
        while True:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time / 4:
                break
            number *= 2
        number = max(1, int(number * min_time / max(elapsed, 1e-9)))
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e3)
    return min(runs)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine():
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cores": os.cpu_count(),
    }
    import numpy
    info["numpy"] = numpy.__version__
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    try:
        import mpi4py
        from mpi4py import MPI
        info["mpi4py"] = mpi4py.__version__
        info["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
    except Exception:
        info["mpi"] = None
    try:
        import distgrad
        if distgrad.cuda.is_available():
            import cupy
            info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception:
        pass
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_results(name, payload):
    os.makedirs(RESULTS, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **payload}
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    return path


def git_revision():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except OSError:
        return None
