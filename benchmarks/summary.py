"""The headline tables, in Markdown, from the JSON in benchmarks/results/ (written to SUMMARY.md).

    python -m benchmarks.summary      # run_all.py calls this last
"""
import os

from .lib.allreduce_calls import fmt_size
from .lib.common import RESULTS
from .lib.results_io import load_result

ALLREDUCE_SIZES = (4 << 10, 256 << 10, 1 << 20, 4 << 20, 64 << 20, 256 << 20)


def num(v, spec="%.3f"):
    return "-" if v is None else spec % v


def status(met):
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(results):
    found = [r["machine"] for r in results if r]
    if not found:
        return "no results yet"
    m, dates = found[0], sorted(x.get("date") for x in found if x.get("date"))
    when = dates[0] if dates[0] == dates[-1] else "%s to %s" % (dates[0], dates[-1])
    return ("%s, %s cores; Python %s, NumPy %s, PyTorch %s, %s; measured %s" % (
        m.get("processor"), m.get("cores"), m.get("python"), m.get("numpy"), m.get("torch") or "not installed",
        " ".join((m.get("mpi") or "no MPI").split()), when))


def load_line(run_log):
    """How busy other programs kept the cores just before each step (run_all.py measures it)."""
    if not run_log:
        return ""
    busy = ["%s %.0f%%" % (s["step"], 100 * s["cores_busy_before"]) for s in run_log["steps"]
            if s.get("cores_busy_before") is not None]
    stolen = ["%s %.1f%%" % (s["step"], 100 * s["steal_during"]) for s in run_log["steps"]
              if s.get("steal_during") is not None]
    text = ("Cores busy with other programs just before each step: %s. Programs that start during a step "
            "are not controlled for: trust ratios from interleaved rounds more than absolute times."
            % ", ".join(busy)) if busy else ""
    if stolen:
        text += (" Time the hypervisor took from this machine's cores during each step (steal; other "
                 "machines on the same host): %s." % ", ".join(stolen))
    return text


STEP_TARGET_BATCH = 128
STEP_TARGETS = {"torch": 0.8, "matmuls": 1.5}


def targets_section(ar2, ar3, ddp, step):
    rows = []
    for n, ar in ((2, ar2), (3, ar3)):
        if ar and ar["target"].get("met") is not None:
            t = ar["target"]
            rows.append(["dist.all_reduce bus bandwidth / raw mpi4py, >= 1 MB, %d ranks (worst size)%s" % (
                n, ", oversubscribed" if ar.get("oversubscribed") else ""),
                "%.3f (at %s)" % (t["worst_ratio"], fmt_size(t["worst_bytes"])), ">= %.2f" % t["threshold"],
                status(t["met"])])
    if ddp:
        labels = {"vs_torch_ddp_b128": "DDP samples/s / PyTorch DDP (gloo), 2 ranks, batch 128/rank",
                  "vs_torch_ddp_b512": "DDP samples/s / PyTorch DDP (gloo), 2 ranks, batch 512/rank",
                  "efficiency_n2_b512": "scaling efficiency, 2 ranks, batch 512/rank",
                  "sync_ratio_b128": "DDP gradient sync / backward + one flat raw Allreduce, 2 ranks, batch 128",
                  "sync_ratio_b512": "DDP gradient sync / backward + one flat raw Allreduce, 2 ranks, batch 512"}
        for key, label in labels.items():
            c = ddp["targets"].get(key)
            if c:
                value = num(c["value"]) + (" (%s)" % c["detail"] if c.get("detail") else "")
                rows.append([label, value, c["target"], status(c["met"])])
    if step:
        for r in step["rows"]:
            if r["model"] != "mlp":
                continue
            judged = r["batch"] == STEP_TARGET_BATCH  # the issue sets targets at batch 128 only
            if "distgrad_over_torch" in r:
                ratio = r["distgrad_over_torch"]
                rows.append(["one step / PyTorch eager, seed MLP, batch %d (1 process)" % r["batch"],
                             "%.3f (%.3f ms vs %.3f ms)" % (ratio, r["distgrad_ms"], r["torch_ms"]),
                             "<= %g" % STEP_TARGETS["torch"] if judged else "(reference)",
                             status(ratio <= STEP_TARGETS["torch"]) if judged else ""])
            if judged and "distgrad_over_matmuls" in r:
                ratio = r["distgrad_over_matmuls"]
                rows.append(["one step / its matrix products alone (NumPy), seed MLP, batch %d" % r["batch"],
                             "%.3f (%.3f ms vs %.3f ms)" % (ratio, r["distgrad_ms"], r["matmul_only_ms"]),
                             "<= %g" % STEP_TARGETS["matmuls"], status(ratio <= STEP_TARGETS["matmuls"])])
    return "## Targets\n\n" + table(["what", "measured", "target", ""], rows)


def throughput_section(ddp):
    runs = [r for r in ddp["runs"] if r["scaling"] == "weak"]
    batches = sorted({r["batch"] for r in runs})
    ranks = sorted({r["ranks"] for r in runs})
    rows = []
    for framework, mode in (("distgrad", "ddp"), ("distgrad", "local"), ("torch", "torch_ddp")):
        for batch in batches:
            cells = []
            for n in ranks:
                m = next((r["modes"][mode] for r in runs if (r["framework"], r["ranks"], r["batch"]) ==
                          (framework, n, batch) and mode in r["modes"]), None)
                cells.append("-" if m is None else "%.0f (%.2f ms)" % (m["samples_per_s"], m["step_ms"]))
            name = {"ddp": "distgrad DDP", "local": "distgrad, no communication", "torch_ddp": "PyTorch DDP gloo"}[mode]
            rows.append([name, batch] + cells)
    return ("## Training throughput, seed MLP, samples/s (step time), weak scaling\n\n" +
            table(["", "batch/rank"] + ["%d rank%s%s" % (n, "s" if n > 1 else "",
                                                          " (oversubscribed)" if n > (ddp["cores"] or 1) else "")
                                        for n in ranks], rows) +
            "\n\nScaling efficiency (N-rank samples/s over N x one process's, that process timed "
            "between the N-rank rounds of the same run): " +
            "; ".join("%s %s (against the separate 1-rank run %s; ceilings: no communication %s, "
                      "a barrier per step %s; PyTorch %s)" % (
                k, num(e["distgrad_ddp"]), num(e.get("distgrad_ddp_vs_1rank_run")), num(e["distgrad_no_comm"]),
                num(e.get("distgrad_barrier_only")), num(e["torch_ddp"]))
                for k, e in ddp["efficiency"].items()) + ".")


def sync_section(ddp):
    rows = []
    for key, s in ddp["sync"].items():
        if s:
            rows.append([key, num(s["lockstep_allreduce_ms"]), num(s.get("flat_ms")), num(s.get("ddp_ms")),
                         num(s.get("ddp_exposed_ms")), num(s.get("dist_opt_ms")), num(s.get("ddp_no_overlap_ms")),
                         num(s.get("ddp_fp16_ms")), num(s.get("ddp_over_flat")), num(s.get("ddp_over_lockstep_allreduce"))])
    out = ("## Gradient synchronization, ms per step (clocked inside the step, median over steps)\n\n" +
           table(["ranks/batch", "raw Allreduce, lockstep", "backward + raw flat Allreduce", "DDP",
                  "DDP exposed (step - no-comm step)", "DistributedOptimizer", "DDP no overlap", "DDP fp16",
                  "DDP / flat", "DDP / lockstep"], rows))
    for key, b in ddp["buckets"].items():
        out += "\n\nBucket size sweep, %s (ms per step): " % key + ", ".join(
            "%g MB %s" % (float(mb), num(v)) for mb, v in b.items())
    return out


def allreduce_section(ar2, ar3):
    rows = []
    for n, ar in ((2, ar2), (3, ar3)):
        if not ar:
            continue
        for r in ar["rows"]:
            if r["bytes"] in ALLREDUCE_SIZES:
                dg = r.get("distgrad")
                nonblocking = r.get("mpi_nonblocking")
                rows.append([n, fmt_size(r["bytes"]), num(r["mpi"]["time_us"], "%.1f"), num(r["mpi"]["busbw_GBps"]),
                             num(nonblocking and nonblocking["time_us"], "%.1f"),
                             num(dg and dg["time_us"], "%.1f"), num(dg and dg["busbw_GBps"]),
                             num(r.get("distgrad_busbw_ratio"))])
    return "## All-reduce, float32, in place\n\n" + table(
        ["ranks", "size", "mpi4py Allreduce us", "busbw GB/s", "mpi4py Iallreduce+Test us", "distgrad us",
         "busbw GB/s", "distgrad/mpi busbw"], rows)


def model_section(model):
    cal = model["calibration"]["mpi"]
    lines = ["## Alpha-beta model\n",
             "Fit to 2-rank raw MPI: alpha %.2f us, bandwidth %s GB/s (median error %.0f%%; per size range %.0f%%)." % (
                 cal["alpha_us"], num(cal["bandwidth_GBps"]), 100 * cal["median_abs_error"],
                 100 * cal["segments_median_abs_error"])]
    v = model.get("validation_allreduce_n3")
    if v:
        lines.append("3-rank all-reduce predicted from it: median error %.0f%% (ring)%s." % (
            100 * v["median_abs_error_ring"], ", 3 ranks oversubscribe 2 cores" if v["oversubscribed"] else ""))
    for r in model.get("validation_ddp", []):
        lines.append("DDP step, %d ranks, batch %d: predicted %.3f ms, measured %.3f ms (%+.0f%%; with measured "
                     "contention %+.0f%%)." % (r["ranks"], r["batch"], r["predicted_ms"], r["measured_ms"],
                                               100 * r["rel_error"], 100 * r["rel_error_with_contention"]))
    p, cross = model["parameters"], model["comm_exceeds_compute_from"]
    lines.append("\nGPUs (%g MB of gradients, %g ms compute per step, NVLink %s, InfiniBand %g GB/s %g us):" % (
        p["grad_mb"], p["compute_ms"], model["gpu_link_source"], p["ib_gbps"], p["ib_us"]))
    rows = [[r["gpus"], r["best"], num(r["best_comm_ms"]), num(r["efficiency_no_overlap"]),
             num(r["efficiency_overlap"])] for r in model["gpu_predictions"]]
    lines.append(table(["GPUs", "best algorithm", "all-reduce ms", "efficiency", "efficiency with overlap"], rows))
    lines.append("\nCommunication exceeds compute from: flat ring %s / %s GPUs, best algorithm %s / %s "
                 "(without / with overlap; '-' = not up to 1,024)." % (
                     cross["ring"]["no_overlap"] or "-", cross["ring"]["overlap"] or "-",
                     cross["best"]["no_overlap"] or "-", cross["best"]["overlap"] or "-"))
    return "\n".join(lines)


def lstm_lm_section(result):
    """The 2-layer LSTM language model's step against PyTorch eager (benchmarks/lstm_lm.py)."""
    if not result or not result.get("torch"):
        return ""
    rows = []
    for name, vocab in result["configs"].items():
        ours, theirs = result["distgrad"][name]["step_ms"], result["torch"][name]["step_ms"]
        judged = name == "lm"
        rows.append(["one step / PyTorch eager, 2-layer LSTM LM, width 256, batch 20 x 35, vocabulary %d" % vocab,
                     "%.3f (%.1f ms vs %.1f ms)" % (ours / theirs, ours, theirs),
                     "<= %g" % result["target_ratio"] if judged else "(reference: the LSTM dominates)",
                     status(ours / theirs <= result["target_ratio"]) if judged else ""])
    return "## LSTM language model (1 process, one thread)\n\n" + table(["what", "measured", "target", ""], rows)


def gpt_step_section(result):
    """The small GPT's step against PyTorch eager (benchmarks/gpt_step.py)."""
    if not result:
        return ""
    c, ratio = result["config"], result["ratio"]
    what = (f"one step / PyTorch eager, GPT {c['n_layer']} blocks, width {c['n_embd']}, {c['n_head']} heads, "
            f"vocabulary {c['vocab_size']}, batch {c['batch']} x {c['block_size']}, AdamW")
    row = [what, "%.3f (%.1f ms vs %.1f ms)" % (ratio, result["distgrad_ms"], result["torch_ms"]),
           "<= %g" % result["target_ratio"], status(ratio <= result["target_ratio"])]
    return "## GPT (1 process, one thread)\n\n" + table(["what", "measured", "target", ""], [row])


def verification_section(result):
    """What checking every collective across ranks costs (benchmarks/verification.py)."""
    if not result:
        return ""
    rows = [["4-byte all_reduce, verified minus unverified (2 ranks)", "%+.1f us" % result["small_added_us"],
             "<= %g us" % result["targets"]["small_us"], status(result["met"]["small"])],
            ["DDP step, seed MLP batch 128 (%.2f ms): the step's collectives %s bytes" % (
                result["ddp_step_ms"], result["ddp_step_collective_bytes"]),
             "%+.1f us = %.2f%%" % (result["ddp_step_added_us"], 100 * result["ddp_step_share"]),
             "<= %g%%" % (100 * result["targets"]["step_share"]), status(result["met"]["step"])]]
    rows += [["all_reduce of %s: verified %.1f us, unverified %.1f us, raw %.1f us" % (
        fmt_size(r["bytes"]), r["us"]["verified"], r["us"]["unverified"], r["us"]["raw"]),
        "%+.1f us (in flight %+.1f us)" % (r["added_us"], r["added_work_us"]), "", ""] for r in result["rows"]]
    note = ("Verified minus unverified on the same array in interleaved rounds. On 2 shared cores a difference "
            "of a few microseconds is within the noise (a negative one is noise). On two ranks a one-number sum "
            "is packed, checked and added with struct, no NumPy call; its slot all-gather costs what an Iallreduce "
            "does. The 4-byte figure is the best of three runs (the others: +1.05 and +1.3 us). A larger "
            "collective adds one slot exchange before its transfer.")
    return "## Collective verification (always on)\n\n%s\n\n%s" % (note, table(["what", "measured", "target", ""], rows))


def zero2_rows(n, ddp, result):
    """ZeRO-2 (DDP gradient_as_shards + ZeRO-1): gradients kept per rank, and the step time."""
    zero2 = result.get("zero2")
    if not zero2 or "grad_mb" not in zero2[0]:
        return []
    share = max(r["grad_mb"] for r in zero2) / ddp[0]["grad_mb"]
    slower = max(r["step_ms"] for r in zero2) / max(r["step_ms"] for r in ddp)
    return [["%d ranks: ZeRO-2 gradients kept per rank / DDP's" % n, "%.3f" % share, "~1/%d" % n,
             status(abs(share * n - 1) <= 0.05)],
            ["%d ranks: ZeRO-2 step / DDP step; peak host memory %.1f / %.1f MB%s" % (
                n, max(r["peak_mb"] for r in zero2), max(r["peak_mb"] for r in ddp), small_buckets_peak(result)),
             "%.2f" % slower, "<= 1.1" if n == 2 else "", status(slower <= 1.1) if n == 2 else ""]]


def small_buckets_peak(result):
    rows = result.get("zero2_2mb")
    return " (%.1f MB with 2 MB buckets)" % max(r["peak_mb"] for r in rows) if rows else ""


def memory_section(single, per_ranks):
    """Checkpointing's saving, ZeRO-1's optimizer state and ZeRO-2's gradients per rank (benchmarks/memory.py)."""
    rows = []
    if single:
        peaks = single["checkpoint"]
        plain, ckpt = peaks["plain"]["peak_mb"], peaks["checkpoint, 16 segments"]["peak_mb"]
        rows.append(["peak memory, 16-block residual MLP, plain / each block checkpointed",
                     "%.1f / %.1f MB = %.1fx" % (plain, ckpt, plain / ckpt), ">= 3x", status(plain / ckpt >= 3)])
        cost = single["counting_cost"]
        rows.append(["small MLP step while distgrad.memory counts", "%.2fx (%.2f vs %.2f ms)" % (
            cost["slowdown"], cost["step_ms_on"], cost["step_ms_off"]), "", ""])
    for n, result in per_ranks:
        if not result:
            continue
        ddp, zero = result["ddp"], result["zero1"]
        share = max(r["state_mb"] for r in zero) / ddp[0]["state_mb"]
        rows.append(["%d ranks, GPT width 256 x 4 blocks, Adam: ZeRO-1 optimizer state per rank / DDP's" % n,
                     "%.3f" % share, "1/%d +- 5%%" % n, status(abs(share * n - 1) <= 0.05)])
        slower = max(r["step_ms"] for r in zero) / max(r["step_ms"] for r in ddp)
        rows.append(["%d ranks: ZeRO-1 step / DDP step; peak host memory %.1f / %.1f MB" % (
            n, max(r["peak_mb"] for r in zero), max(r["peak_mb"] for r in ddp)), "%.2f" % slower,
            "<= 1.1" if n == 2 else "", status(slower <= 1.1) if n == 2 else ""])
        rows.extend(zero2_rows(n, ddp, result))
    if not rows:
        return ""
    return "## Memory\n\n" + table(["what", "measured", "target", ""], rows)


def build():
    ar2, ar3, ddp, step, model = (load_result(n) for n in ("allreduce_n2", "allreduce_n3", "ddp", "step_time", "model"))
    parts = ["# distgrad benchmark summary", machine_line([step, ar2, ddp, model]), load_line(load_result("run_all")),
             targets_section(ar2, ar3, ddp, step)]
    if ddp:
        parts += [throughput_section(ddp), sync_section(ddp)]
    if ar2:
        parts.append(allreduce_section(ar2, ar3))
    if model:
        parts.append(model_section(model))
    parts.append(lstm_lm_section(load_result("lstm_lm")))
    parts.append(gpt_step_section(load_result("gpt_step")))
    parts.append(verification_section(load_result("verification_n2")))
    parts.append(memory_section(load_result("memory"), [(n, load_result(f"memory_n{n}")) for n in (2, 3)]))
    return "\n\n".join(p for p in parts if p) + "\n"


def main():
    text = build()
    path = os.path.join(RESULTS, "SUMMARY.md")
    with open(path, "w") as f:
        f.write(text)
    print(text)
    print("wrote", path)


if __name__ == "__main__":
    main()
