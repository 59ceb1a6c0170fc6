"""PNG plots from the JSON in benchmarks/results/ (each plot is skipped when its JSON is missing).

    python -m benchmarks.plots      # needs matplotlib (pip install matplotlib)

allreduce_bandwidth.png  bus bandwidth vs message size: raw mpi4py, distgrad, NCCL; 2 and 3 ranks
ddp_throughput.png       samples/s vs ranks (weak and strong scaling), distgrad vs PyTorch DDP
ddp_sync_variants.png    step time of each gradient-sync variant at 2 ranks
step_time.png            one training step: distgrad vs PyTorch vs hand-written NumPy
model_scaling.png        predicted efficiency and all-reduce time on 8..1,024 GPUs
"""
import os
import sys

from .lib.common import RESULTS
from .lib.results_io import load_result


def save(fig, name):
    path = os.path.join(RESULTS, name + ".png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("wrote", path)


def style(ax, xlabel, ylabel, title=None, log2x=False):
    if log2x:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def allreduce_bandwidth(plt):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    found = False
    for n, line in ((2, "-"), (3, "--")):
        data = load_result("allreduce_n%d" % n)
        if data is None:
            continue
        found = True
        sizes = [r["bytes"] for r in data["rows"]]
        for impl, color in (("mpi", "tab:gray"), ("mpi_nonblocking", "tab:purple"), ("distgrad", "tab:blue"),
                            ("nccl", "tab:green"),
                            ("distgrad_gpu", "tab:olive")):
            ys = [r[impl]["busbw_GBps"] if impl in r else None for r in data["rows"]]
            if any(y is not None for y in ys):
                ax.plot(sizes, ys, line, marker="o", ms=3, color=color, label="%s, %d ranks" % (impl, n))
    if not found:
        plt.close(fig)
        return
    ax.set_yscale("log")
    style(ax, "message size, bytes", "bus bandwidth, GB/s (algbw x 2(n-1)/n)", "all-reduce, float32, in place",
          log2x=True)
    save(fig, "allreduce_bandwidth")


def ddp_throughput(plt):
    data = load_result("ddp")
    if data is None:
        return
    runs = data["runs"]
    fig, (weak, strong) = plt.subplots(1, 2, figsize=(11, 4.5))
    batches = sorted({r["batch"] for r in runs if r["scaling"] == "weak"})
    colors = dict(zip(batches, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for batch in batches:
        for framework, mode, line in (("distgrad", "ddp", "-"), ("torch", "torch_ddp", "--")):
            pts = sorted((r["ranks"], r["modes"][mode]["samples_per_s"]) for r in runs
                         if (r["framework"], r["batch"], r["scaling"]) == (framework, batch, "weak") and mode in r["modes"])
            if pts:
                weak.plot(*zip(*pts), line, marker="o", color=colors[batch],
                          label="%s DDP, batch %d/rank" % (framework, batch))
    _ranks_axis(weak, "weak scaling (batch per rank fixed)")
    strong_pts = sorted((r["ranks"], r["modes"]["ddp"]["samples_per_s"]) for r in runs if r["scaling"] == "strong")
    if strong_pts:
        strong.plot(*zip(*strong_pts), marker="o", label="distgrad DDP, global batch %d" % data["strong_global_batch"])
        first = strong_pts[0][1]
        strong.plot([p[0] for p in strong_pts], [first * p[0] for p in strong_pts], ":", color="gray",
                    label="linear")
    _ranks_axis(strong, "strong scaling (global batch fixed)")
    save(fig, "ddp_throughput")


def _ranks_axis(ax, title):
    ax.set_xticks([1, 2, 3])
    style(ax, "ranks (2 cores: 3 ranks oversubscribe)", "samples/s", title)


def ddp_sync_variants(plt):
    data = load_result("ddp")
    if data is None or not data.get("variants"):
        return
    keys = [k for k in data["variants"] if k.startswith("n2/")]
    if not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        variants = {m: v for m, v in data["variants"][key].items() if m != "allreduce_only"}
        ax.barh(list(variants), list(variants.values()), color="tab:blue")
        ax.invert_yaxis()  # in run order, top down
        ax.set_xlabel("ms per step")
        ax.set_title("2 ranks, batch %s per rank" % key.split("/b")[1])
        ax.grid(True, axis="x", alpha=0.3)
    save(fig, "ddp_sync_variants")


def step_time(plt):
    data = load_result("step_time")
    if data is None:
        return
    rows = data["rows"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = ["%s b%d" % (r["model"], r["batch"]) for r in rows]
    frameworks = [fw for fw in ("distgrad", "torch", "numpy", "matmul_only") if any(fw + "_ms" in r for r in rows)]
    width = 0.8 / len(frameworks)
    for i, fw in enumerate(frameworks):
        xs = [j + i * width for j in range(len(rows))]
        ax.bar(xs, [r.get(fw + "_ms", 0) for r in rows], width, label=fw)
    ax.set_xticks([j + width * (len(frameworks) - 1) / 2 for j in range(len(rows))], labels, rotation=30)
    ax.set_yscale("log")
    style(ax, "model, batch", "ms per training step (1 thread)", "one step: forward, backward, SGD momentum")
    save(fig, "step_time")


def model_scaling(plt):
    data = load_result("model")
    if data is None:
        return
    rows = data["gpu_predictions"]
    gpus = [r["gpus"] for r in rows]
    fig, (eff, comm) = plt.subplots(1, 2, figsize=(11, 4.5))
    eff.plot(gpus, [r["efficiency_no_overlap"] for r in rows], marker="o", label="no overlap")
    eff.plot(gpus, [r["efficiency_overlap"] for r in rows], marker="o", label="overlap with backward")
    for algo in rows[0]["comm_ms"]:
        comm.plot(gpus, [r["comm_ms"][algo] for r in rows], marker="o", ms=3, label=algo)
    comm.axhline(data["parameters"]["compute_ms"], color="gray", ls=":", label="compute per step")
    comm.set_yscale("log")
    p = data["parameters"]
    xlabel = "GPUs (%d per node)" % p["gpus_per_node"]
    style(eff, xlabel, "predicted weak-scaling efficiency", log2x=True)
    style(comm, xlabel, "all-reduce of the gradients, ms", log2x=True)
    fig.suptitle("alpha-beta model: %g MB gradients, %g ms compute, NVLink %s, IB %g GB/s %g us" % (
        p["grad_mb"], p["compute_ms"], data["gpu_link_source"], p["ib_gbps"], p["ib_us"]), fontsize=9)
    save(fig, "model_scaling")


def main():
    try:
        import matplotlib
    except ImportError:
        sys.exit("plots.py: matplotlib is not installed (pip install matplotlib)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for plot in (allreduce_bandwidth, ddp_throughput, ddp_sync_variants, step_time, model_scaling):
        plot(plt)
        plt.close("all")


if __name__ == "__main__":
    main()
