"""Verify and measure distgrad's GPU path in one command (benchmarks/GPU.md says how long):

    python -m benchmarks.gpu_check            # also: make gpu-check; see benchmarks/GPU.md
    python -m benchmarks.gpu_check --plan     # the steps, their commands and time limits; runs nothing
    python -m benchmarks.gpu_check --deadline 450   # stop earlier than the default 570 s

1. names the card; 2. pytest tests/gpu (op, layer, loss and optimizer tables against the CPU,
sequence layers, attention, models, devices, fused kernels, training, DDP world of one) and
the GPU tests of tests/unit; 3. the 2-rank MPI job sharing the GPU; 4. benchmarks:
gpu_step_time.py (seed MLP, small CNN, two GPTs and the LSTM LM against PyTorch CUDA),
gpu_allreduce.py (dist.all_reduce on CUDA tensors, two ranks sharing the GPU; NCCL when there
are 2 or more GPUs); 5. the differential op table on the GPU, with the time left. Writes
benchmarks/results/gpu_<card>.json. Exits 2 when there is no GPU, 1 when a check failed.
"""
import argparse
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
# pytest steps stop starting tests this long before their limit, so that they still report
STOP_MARGIN_S = 20


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

    def __init__(self, deadline=DEADLINE_S):
        self.start, self.deadline = time.monotonic(), deadline
        self.results = {}

    def left(self):
        return self.deadline - (time.monotonic() - self.start)

    def run(self, name, cmd, limit, env=None):
        """Run ``cmd`` (echoing its output) for at most ``limit`` seconds; returns its output."""
        budget = int(min(limit, self.left()))
        if budget < 20:
            self.results[name] = {"status": "not run", "reason": "out of time"}
            return None
        print("\n=== %s: %s (limit %ds)" % (name, " ".join(cmd), budget), flush=True)
        begin = time.monotonic()
        # its own process group, so a timeout also ends what it started (mpiexec's ranks)
        env = dict(env or child_env(), DISTGRAD_GPU_CHECK_STOP_AT=str(time.time() + budget - STOP_MARGIN_S))
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
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
            try:
                return json.loads(line)
            except ValueError:  # a line cut short by the step's time limit
                continue
    return None


def plan(count, launcher):
    """The steps in order: (name, command, limit in seconds, environment or None, how the
    output is read: "pytest" counts or the "json" of its last line)."""
    py = [sys.executable]
    pytest = py + ["-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider"]
    steps = [("tests_gpu", pytest + ["tests/gpu", "--ignore=tests/gpu/test_gpu_mpi.py",
                                     "--ignore=tests/gpu/test_gpu_differential.py"], 240, None, "pytest"),
             ("step_time", py + ["-m", "benchmarks.gpu_step_time"], 150, None, "json")]
    if launcher is not None:
        steps += [("mpi_two_ranks_one_gpu", pytest + ["tests/gpu/test_gpu_mpi.py"], 120, None, "pytest"),
                  ("allreduce_2_ranks_one_gpu", [launcher, "-n", "2"] + py + ["-m", "benchmarks.gpu_allreduce"], 90,
                   child_env(DISTGRAD_ALLOW_GPU_SHARING="1"), "json")]
        if count >= 2:
            steps.append(("allreduce_nccl", [launcher, "-n", str(min(count, 8))] + py + [
                "-m", "benchmarks.gpu_allreduce", "--backend", "nccl"], 90, None, "json"))
    steps += [("tests_unit_gpu_marked", pytest + ["-m", "gpu", "tests/unit"], 60, None, "pytest"),
              # last, with the time left: every op of the differential table (hundreds of kernels to compile)
              ("tests_gpu_differential", pytest + ["tests/gpu/test_gpu_differential.py"], DEADLINE_S, None, "pytest")]
    return steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="store_true", help="print the steps and their time limits, run nothing")
    parser.add_argument("--deadline", type=float, default=DEADLINE_S,
                        help="seconds the whole check may take (default %(default)s)")
    args = parser.parse_args(argv)
    launcher = mpiexec_or_none()
    if args.plan:
        for name, cmd, limit, env, _ in plan(2, launcher or "mpiexec"):
            sharing = " (DISTGRAD_ALLOW_GPU_SHARING=1)" if env else ""
            print("%-26s <= %3ds  %s%s" % (name, min(limit, args.deadline), " ".join(cmd), sharing))
        print("the whole check stops itself after %ds; allreduce_nccl only with 2 or more GPUs" % args.deadline)
        return 0
    card, count = find_gpu()
    if card is None:
        print("gpu_check: no NVIDIA GPU found here: %s. Nothing to check; run it on a machine with an NVIDIA "
              "GPU and CuPy (benchmarks/GPU.md says how)." % count, file=sys.stderr)
        return 2
    print("gpu_check: %s (%d GPU%s), %s" % (card, count, "s" if count > 1 else "", json.dumps(versions())), flush=True)
    steps = Steps(args.deadline)
    report = {"card": card, "gpus": count, "versions": versions(), "git": git_revision()}
    if launcher is None:
        steps.results["mpi_two_ranks_one_gpu"] = {"status": "not run", "reason": "no mpiexec (see GPU.md)"}
    for name, cmd, limit, env, kind in plan(count, launcher):
        out = steps.run(name, cmd, limit, env=env)
        report[name] = pytest_counts(out) if kind == "pytest" else last_json(out)
        if kind == "pytest" and "out of time: gpu_check" in (out or "") and steps.results[name]["status"] == "ok":
            steps.results[name]["status"] = "partial (out of time)"  # the tests left were skipped
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
        print("  step %-9s batch %5d: distgrad %.3f ms, torch %s ms, ratio %s%s" % (
            row["case"], row["batch"], row["distgrad_ms"], "%.3f" % row["torch_ms"] if "torch_ms" in row else "-",
            "%.2f" % ratio if ratio else "-", "" if "target_met" not in row else (" (target <= 1.2: %s)" % (
                "met" if row["target_met"] else "MISSED"))))
    for case, why in (report.get("step_time") or {}).get("failed", {}).items():
        print("  step %-9s FAILED: %s" % (case, why))
    print("wrote", path)


if __name__ == "__main__":
    sys.exit(main())
