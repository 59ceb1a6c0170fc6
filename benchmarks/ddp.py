"""Data-parallel training throughput of the seed MLP: distgrad over 1, 2 and 3 MPI ranks vs PyTorch DDP.

    python -m benchmarks.ddp            # prints tables, writes results/ddp.json (about 3 minutes)
    python -m benchmarks.ddp --quick    # fewer rounds and batches, for a smoke test

Seed MLP 784-128-10, SGD momentum 0.9, cross-entropy, random data, one thread per rank. Each
(ranks, batch) point is one mpiexec run of ddp_worker.py measuring several gradient-sync variants
side by side; PyTorch DDP (gloo) runs the same model through torch_ddp_worker.py.

Reported: weak scaling (fixed batch per rank) and strong scaling (fixed global batch); scaling
efficiency = N-rank samples/s / (N x 1-rank samples/s), 1-rank = one process without DDP, timed
in the same run between the N-rank rounds (the separate 1-rank run's figure is kept beside it);
two ceilings from the same run: no communication at all, and a Barrier after each backward
(lockstep with no data: what waiting for the slowest rank costs by itself);
gradient synchronization time per step, clocked inside the step (see ddp_worker.py), DDP's
set against one raw Allreduce of all gradients in a flat buffer after backward (target <= 1.1x);
bucket sizes; fp16 compression; overlap on/off, DDP vs DistributedOptimizer vs
backward-then-flat-allreduce. With 2 cores, 3 ranks oversubscribe the machine: those figures
show contention, not scaling.
"""
import argparse
import json
import os
import sys

from .lib import ddp_repeats
from .lib.common import git_revision, write_results
from .lib.launchers import run_mpi, run_torch_ranks

RANKS = (1, 2, 3)
WEAK_BATCHES = (32, 128, 512)
STRONG_GLOBAL_BATCH = 768                   # divisible by 1, 2 and 3
EFFICIENCY_BATCH = 512
BASE_MODES = ("local", "ddp", "dist_opt", "flat")
BUCKETS_MB = (0.05, 0.25, 1, 5, 25, 100)    # the model's 0.41 MB of gradients fit one bucket from 0.41 MB up
DETAIL_MODES = tuple("ddp_b%g" % mb for mb in BUCKETS_MB if mb != 25) + ("ddp_fp16", "ddp_no_overlap")
TARGETS = {"vs_torch_ddp": 2.0, "efficiency": 0.85, "sync_over_flat_allreduce": 1.1}  # from the issue


def worker_json(stdout):
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def distgrad_run(n, batch, modes, rounds, budget):
    args = ["--batch", batch, "--modes", ",".join(modes), "--rounds", rounds, "--budget", budget]
    return worker_json(run_mpi(n, "benchmarks.ddp_worker", args))


def torch_run(n, batch, rounds, budget):
    args = ["--batch", batch, "--rounds", rounds, "--budget", budget]
    return worker_json(run_torch_ranks(n, "benchmarks.torch_ddp_worker", args))


def torch_available():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def measure(ranks, batches, detail_batches, rounds, budget, with_torch, log):
    """Every (framework, ranks, batch) run; a run that fails is recorded and the sweep goes on."""
    runs, failures = [], []

    def attempt(what, fn, scaling):
        try:
            runs.append(dict(fn(), scaling=scaling))
            log(runs[-1])
        except (RuntimeError, ValueError, IndexError) as exc:  # a crashed worker, or no JSON line from it
            failures.append({"run": what, "error": str(exc)[-2000:]})
            print("  FAILED %s: %s" % (what, str(exc)[-600:]), flush=True)

    for n in ranks:
        for batch in batches:
            modes = list(BASE_MODES) + (["alone", "barrier", "allreduce_only"] if n > 1 else [])
            if n == 2 and batch in detail_batches:
                modes += DETAIL_MODES
            attempt("distgrad n=%d batch=%d" % (n, batch),
                    lambda: distgrad_run(n, batch, modes, rounds, budget), "weak")
            if with_torch:
                attempt("torch n=%d batch=%d" % (n, batch), lambda: torch_run(n, batch, rounds, budget), "weak")
        strong = STRONG_GLOBAL_BATCH // n
        attempt("distgrad strong n=%d batch=%d" % (n, strong),
                lambda: distgrad_run(n, strong, ["local", "ddp"], rounds, budget), "strong")
    return runs, failures


def find(runs, framework, n, batch, mode, scaling=None):
    for run in runs:
        if (run["framework"], run["ranks"], run["batch"]) == (framework, n, batch) and mode in run["modes"] \
                and (scaling is None or run["scaling"] == scaling):
            return run["modes"][mode]
    return None


def efficiency(runs, framework, mode, one_rank_mode, n, batch, same_run=True):
    """N-rank samples/s over N times one process's (no DDP) samples/s, at ``batch`` per rank.
    The one process is measured inside the N-rank run where it can be (mode "alone": rank 0
    steps while the others wait), interleaved with the N-rank rounds, so that a slow phase of
    a shared machine cannot fall on one side of the ratio only; else in its own 1-rank run."""
    many = find(runs, framework, n, batch, mode)
    one = find(runs, framework, n, batch, "alone") if same_run else None
    one = one or find(runs, framework, 1, batch, one_rank_mode)
    if many is None or one is None:
        return None
    return many["samples_per_s"] / (n * one["samples_per_s"])


def analyse(runs, ranks, repeated=None):
    batches = sorted({r["batch"] for r in runs if r["scaling"] == "weak"})
    out = {"efficiency": {}, "strong_efficiency": {}, "vs_torch": {}, "sync": {}, "buckets": {}, "variants": {},
           "repeated": repeated}
    for n in [n for n in ranks if n > 1]:
        for batch in batches:
            key = "n%d/b%d" % (n, batch)
            out["efficiency"][key] = {
                "distgrad_ddp": efficiency(runs, "distgrad", "ddp", "local", n, batch),
                "distgrad_ddp_vs_1rank_run": efficiency(runs, "distgrad", "ddp", "local", n, batch, same_run=False),
                "distgrad_no_comm": efficiency(runs, "distgrad", "local", "local", n, batch),
                "distgrad_barrier_only": efficiency(runs, "distgrad", "barrier", "local", n, batch),
                "torch_ddp": efficiency(runs, "torch", "torch_ddp", "torch_local", n, batch)}
            ours, theirs = find(runs, "distgrad", n, batch, "ddp"), find(runs, "torch", n, batch, "torch_ddp")
            if ours and theirs:
                out["vs_torch"][key] = ours["samples_per_s"] / theirs["samples_per_s"]
            out["sync"][key] = sync_times(runs, n, batch)
            variants = {m: v["step_ms"] for run in runs if (run["framework"], run["ranks"], run["batch"]) ==
                        ("distgrad", n, batch) for m, v in run["modes"].items()}
            out["variants"][key] = variants
            buckets = {mb: variants.get("ddp" if mb == 25 else "ddp_b%g" % mb) for mb in BUCKETS_MB}
            if sum(v is not None for v in buckets.values()) > 1:
                out["buckets"][key] = buckets
        one = find(runs, "distgrad", 1, STRONG_GLOBAL_BATCH, "local")
        many = find(runs, "distgrad", n, STRONG_GLOBAL_BATCH // n, "ddp")
        if one and many:
            out["strong_efficiency"]["n%d" % n] = many["samples_per_s"] / (n * one["samples_per_s"])
    out["targets"] = check_targets(out)
    return out


def sync_times(runs, n, batch):
    """Gradient synchronization per step, ms: clocked inside the step (sync_ms: the reducer's
    hooks and finish, or the flat all-reduce function) and as exposed time (step minus the
    no-communication step). DDP's is set against one raw flat Allreduce of all gradients, both
    right after backward in the same training loop ("flat") and alone in a tight loop where the
    ranks are in lockstep ("allreduce_only": no waiting for a rank that is behind)."""
    local, raw = find(runs, "distgrad", n, batch, "local"), find(runs, "distgrad", n, batch, "allreduce_only")
    if local is None or raw is None:
        return None
    res = {"lockstep_allreduce_ms": raw["step_ms"]}
    for mode in ("ddp", "dist_opt", "flat", "ddp_no_overlap", "ddp_fp16"):
        m = find(runs, "distgrad", n, batch, mode)
        if m is not None:
            res[mode + "_ms"] = m.get("sync_ms")
            res[mode + "_exposed_ms"] = m["step_ms"] - local["step_ms"]
    if res.get("ddp_ms") is not None:
        res["ddp_over_flat"] = res["ddp_ms"] / res["flat_ms"] if res.get("flat_ms") else None
        res["ddp_over_lockstep_allreduce"] = res["ddp_ms"] / raw["step_ms"]
    return res


def check_targets(out):
    def at(table, key, field=None):
        v = table.get(key)
        return v.get(field) if (v is not None and field) else v

    def check(value, op, target, detail=None):
        met = None if value is None else (value >= target if op == ">=" else value <= target)
        result = {"value": value, "target": "%s %g" % (op, target), "met": met}
        if detail:
            result["detail"] = detail
        return result

    def judged(key, single):
        """(value, detail): the repeated runs' median where they measured ``key``, else the
        sweep's single run."""
        repeated = out.get("repeated") or {}
        figure = repeated.get(key)
        if figure is None:
            return single, None
        return figure["median"], "median of %d runs, %.3f to %.3f" % (repeated["repeats"], figure["min"],
                                                                      figure["max"])
    checks = {"vs_torch_ddp_b128": check(at(out["vs_torch"], "n2/b128"), ">=", TARGETS["vs_torch_ddp"])}
    value, detail = judged("vs_torch", at(out["vs_torch"], "n2/b%d" % EFFICIENCY_BATCH))
    checks["vs_torch_ddp_b512"] = check(value, ">=", TARGETS["vs_torch_ddp"], detail)
    value, detail = judged("efficiency", at(out["efficiency"], "n2/b%d" % EFFICIENCY_BATCH, "distgrad_ddp"))
    checks["efficiency_n2_b512"] = check(value, ">=", TARGETS["efficiency"], detail)
    for batch in (128, 512):
        sync = at(out["sync"], "n2/b%d" % batch)
        checks["sync_ratio_b%d" % batch] = check(sync.get("ddp_over_flat") if sync else None, "<=",
                                                 TARGETS["sync_over_flat_allreduce"])
    return checks


def fmt(v, spec="%.3f"):
    return "-" if v is None else spec % v


def print_report(runs, analysis):
    print("\nthroughput, samples/s (step ms); weak = batch per rank, strong = global %d" % STRONG_GLOBAL_BATCH)
    print("%-9s %-6s %5s %6s  %s" % ("framework", "scale", "ranks", "batch", "modes"))
    for r in runs:
        modes = "  ".join("%s %s(%.2f)" % (m, "%.0f " % v["samples_per_s"] if "samples_per_s" in v else "", v["step_ms"])
                          for m, v in r["modes"].items())
        print("%-9s %-6s %5d %6d  %s" % (r["framework"], r["scaling"], r["ranks"], r["batch"], modes))
    print("\nscaling efficiency (N-rank samples/s over N x one process's):")
    for key, e in analysis["efficiency"].items():
        print("  %-8s distgrad ddp %s (vs the 1-rank run: %s)  no-comm %s  barrier only %s  torch ddp %s" % (
            key, fmt(e["distgrad_ddp"]), fmt(e["distgrad_ddp_vs_1rank_run"]), fmt(e["distgrad_no_comm"]),
            fmt(e["distgrad_barrier_only"]), fmt(e["torch_ddp"])))
    rep = analysis.get("repeated")
    if rep and "efficiency" in rep:
        print("  n2/b%d over %d more runs: median %.3f (%.3f to %.3f); ceilings: no communication %.3f, barrier %.3f" % (
            EFFICIENCY_BATCH, rep["repeats"], rep["efficiency"]["median"], rep["efficiency"]["min"],
            rep["efficiency"]["max"], rep["no_comm_ceiling"]["median"], rep["barrier_ceiling"]["median"]))
    for key, e in analysis["strong_efficiency"].items():
        print("  strong %s (global batch %d): %.3f" % (key, STRONG_GLOBAL_BATCH, e))
    print("\ndistgrad DDP samples/s over PyTorch DDP (gloo):",
          ", ".join("%s %.2fx" % kv for kv in analysis["vs_torch"].items()) or "torch not measured")
    print("\ngradient sync per step, ms (clocked inside the step; *_exposed: step - no-comm step):")
    for key, s in analysis["sync"].items():
        if s:
            print("  %-8s " % key + "  ".join("%s %s" % (k, fmt(v)) for k, v in s.items()))
    for key, b in analysis["buckets"].items():
        print("  buckets %s: " % key + "  ".join("%g MB %s ms" % (mb, fmt(v)) for mb, v in b.items()))
    print("\ntargets:")
    for name, c in analysis["targets"].items():
        print("  %-22s %s (target %s): %s%s" % (name, fmt(c["value"]), c["target"],
                                               {True: "MET", False: "MISSED", None: "not measured"}[c["met"]],
                                               " (%s)" % c["detail"] if "detail" in c else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, batches 128 and 512")
    parser.add_argument("--ranks", default=",".join(map(str, RANKS)))
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of the 2-rank batch-512 point whose median ratios judge the targets "
                             "(default 5, --quick 2; 0: judge the sweep's single run)")
    args = parser.parse_args()
    ranks = [int(r) for r in args.ranks.split(",")]
    batches = (128, 512) if args.quick else WEAK_BATCHES
    rounds, budget = (3, 0.05) if args.quick else (7, 0.1)
    with_torch = torch_available() and not args.no_torch
    if not with_torch:
        print("PyTorch DDP not measured:", "--no-torch" if args.no_torch else "torch is not installed")

    def log(run):
        print("  measured %s ranks=%d batch=%d (%s)" % (run["framework"], run["ranks"], run["batch"], run["scaling"]),
              flush=True)
    runs, failures = measure(ranks, batches, (128, 512), rounds, budget, with_torch, log)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    repeated = None
    if 2 in ranks and repeats > 0:
        print("2 ranks, batch %d, %d more runs (median ratios judge the targets):" % (EFFICIENCY_BATCH, repeats))
        repeated = ddp_repeats.summarise(ddp_repeats.measure_repeats(
            2, EFFICIENCY_BATCH, repeats, lambda n, b, modes: distgrad_run(n, b, modes, rounds, budget),
            (lambda n, b: torch_run(n, b, rounds, budget)) if with_torch else None))
    analysis = analyse(runs, ranks, repeated)
    print_report(runs, analysis)
    path = write_results("ddp", {
        "git": git_revision(), "model": "MLP 784-128-10, SGD momentum 0.9, cross-entropy, random data",
        "threads_per_rank": 1, "cores": os.cpu_count(),
        "oversubscribed_ranks": [n for n in ranks if n > (os.cpu_count() or 1)],
        "strong_global_batch": STRONG_GLOBAL_BATCH, "targets_spec": TARGETS, "runs": runs, "failures": failures,
        **analysis})
    print("wrote", path)
    if failures:
        sys.exit("%d run(s) failed: %s" % (len(failures), ", ".join(f["run"] for f in failures)))


if __name__ == "__main__":
    main()
