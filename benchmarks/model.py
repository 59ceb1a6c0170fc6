"""Alpha-beta model of data-parallel training: calibrated here, checked against the 2- and 3-rank
runs, then extrapolated to 8..1,024 GPUs over NVLink and InfiniBand.

    python -m benchmarks.model                              # defaults below; writes results/model.json
    python -m benchmarks.model --grad-mb 400 --compute-ms 120 --ib-gbps 25

Calibration: alpha and beta fitted (least squares, relative error) to raw mpi4py Allreduce
times in results/allreduce_n2.json, or to NCCL times when that file has them (a GPU run), which
then replace the NVLink figures. Step time = compute + all-reduce of the gradients (no overlap),
or compute + max(all-reduce - backward share of compute, all-reduce of the last bucket)
(overlap: buckets are reduced while backward runs, except the last, ready when it ends). Weak-scaling efficiency = compute / step. See allreduce_model.py for the costs.
"""
import argparse
import statistics
import sys

from .lib.allreduce_model import ALGORITHMS, COST, fit, fit_segments, flat, hierarchical, ring, segment_for
from .lib.common import git_revision, write_results
from .lib.results_io import load_result

GPU_RANKS = [8 * 2 ** k for k in range(8)]  # 8 ... 1024


def points(allreduce, key):
    return [(r["bytes"], r[key]["time_us"] * 1e-6) for r in allreduce["rows"] if key in r]


def calibrate(allreduce):
    """alpha/beta of raw MPI (and of NCCL when measured) from a 2-rank sweep: one pair for all
    sizes, and one pair per size range (see allreduce_model.fit_segments)."""
    out = {}
    p = allreduce["ranks"]
    for key in ("mpi", "nccl"):
        pts = points(allreduce, key)
        if len(pts) < 2:
            continue
        alpha, beta, errors = fit(pts, p=p)
        segments, seg_errors = fit_segments(pts, p=p)
        out[key] = {"ranks": p, "alpha_us": alpha * 1e6, "bandwidth_GBps": _gbps(beta),
                    "median_abs_error": statistics.median(abs(e) for e in errors),
                    "segments": [{"up_to_bytes": s["up_to_bytes"], "alpha_us": s["alpha"] * 1e6,
                                  "bandwidth_GBps": _gbps(s["beta"])} for s in segments],
                    "segments_median_abs_error": statistics.median(abs(e) for e in seg_errors)}
    return out


def _gbps(beta):
    return 1e-9 / beta if beta > 0 else None


def segments_of(cal):
    return [{"up_to_bytes": s["up_to_bytes"], "alpha": s["alpha_us"] * 1e-6,
             "beta": 1e-9 / s["bandwidth_GBps"] if s["bandwidth_GBps"] else 0.0} for s in cal["segments"]]


def predicted(cal, form, p, n):
    """Seconds for an n-byte all-reduce on p ranks with the calibrated per-size-range alpha/beta."""
    return form(p, n, *segment_for(segments_of(cal), n))


def link(cal):
    """One (alpha, beta) for a link: latency of the smallest sizes, bandwidth of the largest."""
    segments = segments_of(cal)
    return segments[0]["alpha"], segments[-1]["beta"]


def validate_allreduce(cal, allreduce3):
    """The 2-rank fit's prediction of every measured 3-rank time (ring, and the best algorithm)."""
    rows = []
    for n, t in points(allreduce3, "mpi"):
        ring_t = predicted(cal, ring, 3, n)
        best_t = min(predicted(cal, COST[name], 3, n) for name in ALGORITHMS)
        rows.append({"bytes": n, "measured_us": t * 1e6, "ring_us": ring_t * 1e6, "ring_rel_error": ring_t / t - 1,
                     "best_rel_error": best_t / t - 1})
    return {"rows": rows, "median_abs_error_ring": statistics.median(abs(r["ring_rel_error"]) for r in rows),
            "median_abs_error_best": statistics.median(abs(r["best_rel_error"]) for r in rows),
            "oversubscribed": allreduce3.get("oversubscribed")}


def validate_ddp(cal, ddp):
    """Predicted DDP step = 1-rank compute + ring all-reduce of the gradients; also with the
    measured no-communication step on N ranks as compute (that includes contention for cores)."""
    rows = []
    for run in ddp["runs"]:
        n, batch = run["ranks"], run["batch"]
        if run["framework"] != "distgrad" or n < 2 or run["scaling"] != "weak" or "ddp" not in run["modes"]:
            continue
        one = _find(ddp, 1, batch, "local")
        if one is None:
            continue
        comm_ms = predicted(cal, ring, n, 4 * run["gradient_elements"]) * 1e3
        measured = run["modes"]["ddp"]["step_ms"]
        plain = one["step_ms"] + comm_ms
        with_contention = run["modes"]["local"]["step_ms"] + comm_ms
        rows.append({"ranks": n, "batch": batch, "measured_ms": measured, "predicted_ms": plain,
                     "rel_error": plain / measured - 1, "predicted_with_contention_ms": with_contention,
                     "rel_error_with_contention": with_contention / measured - 1,
                     "predicted_efficiency": one["step_ms"] / plain,
                     "measured_efficiency": one["step_ms"] / measured})
    return rows


def _find(ddp, n, batch, mode):
    for run in ddp["runs"]:
        if run["framework"] == "distgrad" and (run["ranks"], run["batch"]) == (n, batch) and mode in run["modes"]:
            return run["modes"][mode]
    return None


def all_algorithms(p, n, args, intra, inter):
    algos = flat(p, n, args.gpus_per_node, intra, inter)
    algos["hierarchical"] = hierarchical(p, n, args.gpus_per_node, intra, inter)
    return algos


def predict_gpus(args, intra, inter):
    """Per GPU count: each algorithm's all-reduce of the gradients, and the part of it that
    overlap cannot hide: what outlasts backward, and at least the last bucket (it is only
    ready when backward ends)."""
    grad, compute = args.grad_mb * 1e6, args.compute_ms * 1e-3
    hidden = args.backward_fraction * compute
    rows = []
    for p in GPU_RANKS:
        algos = all_algorithms(p, grad, args, intra, inter)
        last_bucket = all_algorithms(p, min(grad, args.bucket_mb * 1e6), args, intra, inter)
        exposed = {k: max(v - hidden, last_bucket[k]) for k, v in algos.items()}
        name = min(algos, key=algos.get)
        comm = algos[name]
        rows.append({"gpus": p, "comm_ms": {k: v * 1e3 for k, v in algos.items()},
                     "exposed_ms": {k: v * 1e3 for k, v in exposed.items()}, "best": name,
                     "best_comm_ms": comm * 1e3, "best_exposed_ms": exposed[name] * 1e3,
                     "best_last_bucket_ms": last_bucket[name] * 1e3,
                     "step_ms_no_overlap": (compute + comm) * 1e3,
                     "step_ms_overlap": (compute + exposed[name]) * 1e3,
                     "efficiency_no_overlap": compute / (compute + comm),
                     "efficiency_overlap": compute / (compute + exposed[name])})
    return rows


def crossovers(rows, args):
    """First GPU count where communication outweighs compute: without overlap, the all-reduce
    takes longer than compute; with overlap, the part of it left exposed does."""
    c = args.compute_ms

    def first(pred):
        return next((r["gpus"] for r in rows if pred(r)), None)
    out = {}
    for algo in list(ALGORITHMS) + ["hierarchical"]:
        out[algo] = {"no_overlap": first(lambda r: r["comm_ms"][algo] > c),
                     "overlap": first(lambda r: r["exposed_ms"][algo] > c)}
    out["best"] = {"no_overlap": first(lambda r: r["best_comm_ms"] > c),
                   "overlap": first(lambda r: r["best_exposed_ms"] > c)}
    # the other way round: at the largest count, the compute per step below which comm dominates
    last = rows[-1]
    out["break_even_compute_ms"] = {"gpus": last["gpus"], "no_overlap": last["best_comm_ms"],
                                    "overlap": max(last["best_comm_ms"] / (1 + args.backward_fraction),
                                                   last["best_last_bucket_ms"])}
    return out


def print_report(cal, val_ar, val_ddp, rows, cross, args, gpu_source):
    for key, c in cal.items():
        print("calibration (%s, %d ranks, ring form): one pair alpha %.2f us, bandwidth %s GB/s, median |error| "
              "%.1f%%; per size range (median |error| %.1f%%):" % (
                  key, c["ranks"], c["alpha_us"], _fmt_bw(c["bandwidth_GBps"]), 100 * c["median_abs_error"],
                  100 * c["segments_median_abs_error"]))
        for seg in c["segments"]:
            print("    up to %s: alpha %.2f us, bandwidth %s GB/s" % (
                "%d B" % seg["up_to_bytes"] if seg["up_to_bytes"] else "any size", seg["alpha_us"],
                _fmt_bw(seg["bandwidth_GBps"])))
    if val_ar:
        print("3-rank all-reduce predicted from the 2-rank fit: median |error| ring %.1f%%, best algorithm %.1f%%%s"
              % (100 * val_ar["median_abs_error_ring"], 100 * val_ar["median_abs_error_best"],
                 " (3 ranks oversubscribe the cores)" if val_ar["oversubscribed"] else ""))
    for r in val_ddp:
        print("DDP step, %d ranks, batch %d: measured %.3f ms, predicted %.3f ms (error %+.1f%%; with measured "
              "contention %.3f ms, %+.1f%%), efficiency measured %.3f predicted %.3f" % (
                  r["ranks"], r["batch"], r["measured_ms"], r["predicted_ms"], 100 * r["rel_error"],
                  r["predicted_with_contention_ms"], 100 * r["rel_error_with_contention"],
                  r["measured_efficiency"], r["predicted_efficiency"]))
    print("\nGPUs: gradients %g MB, compute %g ms/step (backward %.0f%%), %d GPUs/node; NVLink %s; "
          "InfiniBand %g GB/s, %g us" % (args.grad_mb, args.compute_ms, 100 * args.backward_fraction,
                                          args.gpus_per_node, gpu_source, args.ib_gbps, args.ib_us))
    names = list(ALGORITHMS) + ["hierarchical"]
    print("%6s " % "GPUs" + " ".join("%12s" % n[:12] for n in names) + " %13s %13s %8s %8s" % (
        "step ms", "step ms ovl", "eff", "eff ovl"))
    for r in rows:
        print("%6d " % r["gpus"] + " ".join("%12.3f" % r["comm_ms"][n] for n in names) + " %13.3f %13.3f %8.3f %8.3f" % (
            r["step_ms_no_overlap"], r["step_ms_overlap"], r["efficiency_no_overlap"], r["efficiency_overlap"]))
    print("communication exceeds compute from (GPUs; '-' = not up to %d):" % GPU_RANKS[-1])
    for algo, c in cross.items():
        if algo == "break_even_compute_ms":
            print("  at %d GPUs (best algorithm) communication dominates when compute per step is below "
                  "%.3f ms without overlap, %.3f ms with overlap" % (c["gpus"], c["no_overlap"], c["overlap"]))
            continue
        print("  %-20s without overlap %5s   with overlap %5s" % (algo, c["no_overlap"] or "-", c["overlap"] or "-"))


def _fmt_bw(gbps):
    return "inf" if gbps is None else "%.3f" % gbps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvlink-gbps", type=float, default=450.0, help="per-GPU NVLink bandwidth, GB/s")
    parser.add_argument("--nvlink-us", type=float, default=2.0, help="NVLink latency, microseconds")
    parser.add_argument("--ib-gbps", type=float, default=50.0, help="per-GPU InfiniBand bandwidth, GB/s")
    parser.add_argument("--ib-us", type=float, default=5.0, help="InfiniBand latency, microseconds")
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--grad-mb", type=float, default=100.0, help="gradient bytes per step, MB (25M fp32 params)")
    parser.add_argument("--compute-ms", type=float, default=10.0, help="forward+backward+update per step, ms")
    parser.add_argument("--bucket-mb", type=float, default=25.0, help="DDP bucket size: the last one cannot overlap")
    parser.add_argument("--backward-fraction", type=float, default=2 / 3,
                        help="share of compute that communication can hide behind (backward)")
    parser.add_argument("--calibration", default="allreduce_n2", help="results/<name>.json to fit")
    args = parser.parse_args()
    allreduce = load_result(args.calibration)
    if allreduce is None:
        sys.exit("model.py: results/%s.json is missing: run mpiexec -n 2 python -m benchmarks.allreduce first"
                 % args.calibration)
    cal = calibrate(allreduce)
    intra = (args.nvlink_us * 1e-6, 1e-9 / args.nvlink_gbps)
    gpu_source = "%g GB/s, %g us (flags)" % (args.nvlink_gbps, args.nvlink_us)
    if "nccl" in cal:  # a GPU's own measurement beats the datasheet
        intra = link(cal["nccl"])
        gpu_source = "%.1f GB/s, %.1f us (fitted to NCCL)" % (1e-9 / intra[1], intra[0] * 1e6)
    inter = (args.ib_us * 1e-6, 1e-9 / args.ib_gbps)
    allreduce3, ddp = load_result("allreduce_n3"), load_result("ddp")
    val_ar = validate_allreduce(cal["mpi"], allreduce3) if allreduce3 else None
    val_ddp = validate_ddp(cal["mpi"], ddp) if ddp else []
    rows = predict_gpus(args, intra, inter)
    cross = crossovers(rows, args)
    print_report(cal, val_ar, val_ddp, rows, cross, args, gpu_source)
    path = write_results("model", {
        "git": git_revision(), "parameters": vars(args), "calibration": cal, "gpu_link_source": gpu_source,
        "validation_allreduce_n3": val_ar, "validation_ddp": val_ddp, "gpu_predictions": rows,
        "comm_exceeds_compute_from": cross, "algorithms": sorted(COST) + ["hierarchical"]})
    print("wrote", path)


if __name__ == "__main__":
    main()
