"""Run the whole benchmark suite and write benchmarks/results/ (JSON, PNG, SUMMARY.md).

    python -m benchmarks.run_all            # what `make bench` runs (about 7 minutes on 2 idle cores)
    python -m benchmarks.run_all --quick    # shorter DDP sweep
    python -m benchmarks.run_all --only allreduce_n2,model,plots,summary

Steps, in order: step_time.py; lstm_lm.py; gpt_step.py; allreduce.py under mpiexec -n 2 and -n 3;
ddp.py; memory.py (alone, then under mpiexec -n 2 and -n 3); model.py; plots.py;
summary.py (prints the headline tables and writes results/SUMMARY.md). Timings on a
machine that is busy with something else are worth little, so before each step the suite waits
(up to --wait seconds) until the cores are idle, and records how busy they were in
results/run_all.json.
"""
import argparse
import subprocess
import sys
import time

from distgrad.launcher.mpi import find_mpiexec

from .lib.common import ROOT, write_results
from .lib.launchers import one_thread_env
from .lib.results_io import load_result


def steps(quick):
    def module(name):  # run from the repository root, where the benchmarks package is
        return [sys.executable, "-m", "benchmarks." + name]
    mpiexec = find_mpiexec()
    return [
        ("step_time", module("step_time") + (["--rounds", "1"] if quick else [])),
        ("lstm_lm", module("lstm_lm") + (["--rounds", "1"] if quick else [])),
        ("gpt_step", module("gpt_step") + (["--rounds", "2"] if quick else [])),
        ("allreduce_n2", [mpiexec, "-n", "2"] + module("allreduce")),
        ("allreduce_n3", [mpiexec, "-n", "3"] + module("allreduce")),
        ("verification_n2", [mpiexec, "-n", "2"] + module("verification")),
        ("ddp", module("ddp") + (["--quick"] if quick else [])),
        ("memory", module("memory")),
        ("memory_n2", [mpiexec, "-n", "2"] + module("memory") + ["--ranks"]),
        ("memory_n3", [mpiexec, "-n", "3"] + module("memory") + ["--ranks"]),
        ("model", module("model")),
        ("plots", module("plots")),
        ("summary", module("summary")),
    ]


def cpu_times():
    """(idle, steal, total) jiffies of all cores from /proc/stat, None where unknown. Steal is
    time the hypervisor gave this virtual machine's cores to others: noise no program here sees."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 8:
        return None
    return fields[3] + fields[4], fields[7], sum(fields[:8])  # idle + iowait; steal; up to steal


def share(before, after, index):
    """Share of the elapsed jiffies spent in field ``index`` (0 idle, 1 steal) between two samples."""
    if before is None or after is None:
        return None
    return (after[index] - before[index]) / max(1, after[2] - before[2])


def cpu_busy(seconds=2.0):
    """Share of all cores busy over the next ``seconds``, None where unknown. Unlike the load
    average, it does not remember the previous benchmark step."""
    before = cpu_times()
    time.sleep(seconds)
    idle = share(before, cpu_times(), 0)
    return None if idle is None else 1.0 - idle


def wait_until_quiet(limit_s, threshold):
    """Wait (at most ``limit_s``) until other processes use less than ``threshold`` of the cores."""
    start = time.monotonic()
    busy = cpu_busy()
    while busy is not None and busy > threshold and time.monotonic() - start < limit_s:
        print("cores %.0f%% busy with other work: waiting for a quiet machine" % (100 * busy), flush=True)
        time.sleep(5)
        busy = cpu_busy()
    return busy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter DDP sweep")
    parser.add_argument("--only", help="comma-separated step names")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for a quiet machine, per step")
    parser.add_argument("--quiet", type=float, default=0.15, help="share of busy cores counted as quiet")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else None
    previous = (load_result("run_all") or {}).get("steps", []) if chosen else []
    log = [s for s in previous if s["step"] not in chosen] if chosen else []  # keep the steps not re-run
    failed = []
    for name, cmd in steps(args.quick):
        if chosen and name not in chosen:
            continue
        busy = wait_until_quiet(args.wait, args.quiet) if name not in ("plots", "summary") else None
        print("\n== %s: %s (cores busy before: %s)" % (
            name, " ".join(cmd), "?" if busy is None else "%.0f%%" % (100 * busy)), flush=True)
        start, times = time.monotonic(), cpu_times()
        code = subprocess.call(cmd, env=one_thread_env(), cwd=ROOT)
        log.append({"step": name, "command": cmd, "exit_code": code, "seconds": round(time.monotonic() - start, 1),
                    "cores_busy_before": busy, "steal_during": share(times, cpu_times(), 1)})
        if code != 0:
            failed.append(name)
            print("!! %s failed with exit code %d" % (name, code), flush=True)
        write_results("run_all", {"steps": log, "failed": failed})  # after every step: summary.py reads it
    if failed:
        sys.exit("benchmark steps failed: " + ", ".join(failed))


if __name__ == "__main__":
    main()
