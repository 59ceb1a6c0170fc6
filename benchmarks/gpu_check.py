"""Verify and measure distgrad's GPU path in one command (about 5 minutes on an H100):

    python -m benchmarks.gpu_check        # also: make gpu-check; see benchmarks/GPU.md

1. names the card; 2. pytest tests/gpu (op, layer, loss and optimizer tables against the CPU,
devices, fused kernels, training, DDP world of one) and the GPU tests of tests/unit; 3. the
2-rank MPI job sharing the GPU; 4. benchmarks: gpu_step_time.py (seed MLP at batch 4096 and
a small CNN against PyTorch CUDA), gpu_allreduce.py (dist.all_reduce on CUDA tensors, two
ranks sharing the GPU; NCCL when there are 2 or more GPUs). Writes
benchmarks/results/gpu_<card>.json. Exits 2 when there is no GPU, 1 when a check failed.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from .lib.common import RESULTS, ROOT, git_revision, machine
from .lib.launchers import mpiexec_or_none

DEADLINE_S = 570  # the whole check stays inside 10 minutes


def find_gpu():
    """(card name, device count), or (None, why not)."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        return None, "CuPy is not importable (%s: %s)" % (type(exc).__name__, exc)
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return None, "CuPy finds no CUDA driver or device (%s)" % exc
    if count < 1:
        return None, "CuPy sees 0 devices"
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    return (name.decode() if isinstance(name, bytes) else str(name)), count


def versions():
    import cupy
    info = {"cupy": cupy.__version__, "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cuda_driver": cupy.cuda.runtime.driverGetVersion()}
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.cuda.is_available()
    except ImportError:
        info["torch"] = None
    return info


class Steps:
    """Runs each step as a subprocess, echoing its output, under the overall deadline."""

    def __init__(self):
        self.start = time.monotonic()
        self.results = {}

    def left(self):
        return DEADLINE_S - (time.monotonic() - self.start)

    def run(self, name, cmd, limit, env=None):
        """Run ``cmd`` (echoing its output) for at most ``limit`` seconds; returns its output."""
        budget = int(min(limit, self.left()))
        if budget < 20:
            self.results[name] = {"status": "not run", "reason": "out of time"}
            return None
        print("\n=== %s: %s (limit %ds)" % (name, " ".join(cmd), budget), flush=True)
        begin = time.monotonic()
        # its own process group, so a timeout also ends what it started (mpiexec's ranks)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env or child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines = []
        reader = threading.Thread(target=echo, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            proc.wait(timeout=budget)
            status = "ok" if proc.returncode == 0 else "failed (exit %d)" % proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status = "timed out after %ds" % budget
        reader.join(timeout=5)
        self.results[name] = {"status": status, "seconds": round(time.monotonic() - begin, 1)}
        return "".join(lines)


def echo(stream, lines):
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)


def child_env(**extra):
    paths = [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def pytest_counts(output):
    """The counts of pytest's closing line ("3 failed, 280 passed, 2 skipped in 80.1s")."""
    found = re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", (output or "").splitlines()[-1]
                       if output and output.strip() else "")
    return {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in found}


def last_json(output):
    for line in reversed((output or "").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def main():
    card, count = find_gpu()
    if card is None:
        print("gpu_check: no NVIDIA GPU found here: %s. Nothing to check; run it on a machine with an NVIDIA "
              "GPU and CuPy (benchmarks/GPU.md says how)." % count, file=sys.stderr)
        return 2
    print("gpu_check: %s (%d GPU%s), %s" % (card, count, "s" if count > 1 else "", json.dumps(versions())), flush=True)
    steps = Steps()
    py = [sys.executable]
    pytest = py + ["-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider"]
    report = {"card": card, "gpus": count, "versions": versions(), "git": git_revision()}
    out = steps.run("tests_gpu", pytest + ["tests/gpu", "--ignore=tests/gpu/test_gpu_mpi.py"], 300)
    report["tests_gpu"] = pytest_counts(out)
    out = steps.run("tests_unit_gpu_marked", pytest + ["-m", "gpu", "tests/unit"], 90)
    report["tests_unit_gpu_marked"] = pytest_counts(out)
    launcher = mpiexec_or_none()
    if launcher is None:
        steps.results["mpi_two_ranks_one_gpu"] = {"status": "not run", "reason": "no mpiexec (see GPU.md)"}
    else:
        out = steps.run("mpi_two_ranks_one_gpu", pytest + ["tests/gpu/test_gpu_mpi.py"], 180)
        report["mpi_two_ranks_one_gpu"] = pytest_counts(out)
    out = steps.run("step_time", py + ["-m", "benchmarks.gpu_step_time"], 150)
    report["step_time"] = last_json(out)
    if launcher is not None:
        sharing = child_env(DISTGRAD_ALLOW_GPU_SHARING="1")
        out = steps.run("allreduce_2_ranks_one_gpu", [launcher, "-n", "2"] + py + [
            "-m", "benchmarks.gpu_allreduce"], 120, env=sharing)
        report["allreduce_2_ranks_one_gpu"] = last_json(out)
        if count >= 2:
            n = min(count, 8)
            out = steps.run("allreduce_nccl", [launcher, "-n", str(n)] + py + [
                "-m", "benchmarks.gpu_allreduce", "--backend", "nccl"], 120)
            report["allreduce_nccl"] = last_json(out)
    report["steps"] = steps.results
    report["machine"] = machine()  # last: it initializes MPI in this process
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "gpu_%s.json" % re.sub(r"[^A-Za-z0-9]+", "_", card).strip("_"))
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print_summary(report, path)
    ok = all(r["status"] == "ok" for r in steps.results.values())
    return 0 if ok else 1


def print_summary(report, path):
    print("\n=== gpu_check summary: %s" % report["card"])
    for name, r in report["steps"].items():
        counts = report.get(name)
        counts = counts if isinstance(counts, dict) and counts and "rows" not in counts else None
        print("  %-28s %-22s %s" % (name, r["status"], counts or r.get("reason", "")))
    for row in (report.get("step_time") or {}).get("rows", []):
        ratio = row.get("distgrad_over_torch")
        print("  step %-4s batch %5d: distgrad %.3f ms, torch %s ms, ratio %s%s" % (
            row["model"], row["batch"], row["distgrad_ms"], "%.3f" % row["torch_ms"] if "torch_ms" in row else "-",
            "%.2f" % ratio if ratio else "-", "" if ratio is None else (" (target <= 1.2: %s)" % (
                "met" if row["target_met"] else "MISSED"))))
    print("wrote", path)


if __name__ == "__main__":
    sys.exit(main())
