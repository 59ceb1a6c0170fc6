"""A picture of a timeline: ranks as rows, compute, communication and waits as coloured spans,
so whether all-reduces overlap backward shows at a glance. Needs matplotlib."""
import json

# trace row (thread name) -> (lane within a rank, colour, legend)
_LANES = {"communication": (1, "tab:orange", "all-reduce in flight"),
          "communication wait": (2, "tab:red", "blocked in wait")}
_COMPUTE = (0, "tab:blue", "ops (forward, backward)")


def _spans(trace):
    """{rank pid: [(lane, start_us, end_us, name)]} from a trace dict."""
    rows, spans, begun = {}, {}, {}
    for event in trace["traceEvents"]:
        if event["ph"] == "M" and event["name"] == "thread_name":
            rows[event["pid"], event["tid"]] = event["args"]["name"]
    for event in trace["traceEvents"]:
        lane = _LANES.get(rows.get((event["pid"], event.get("tid"))), _COMPUTE)[0]
        if event["ph"] == "X" and event.get("cat") == "cpu_op":
            spans.setdefault(event["pid"], []).append((lane, event["ts"], event["ts"] + event["dur"], event["name"]))
        elif event["ph"] == "b":
            begun[event["pid"], event["id"]] = event["ts"]
        elif event["ph"] == "e":
            start = begun.pop((event["pid"], event["id"]))
            spans.setdefault(event["pid"], []).append((lane, start, event["ts"], event["name"]))
    return spans


def plot_timeline(trace, png_path, title="timeline"):
    """Draw ``trace`` (a path to a timeline's JSON, or the dict) into ``png_path``: per rank a
    band of three lanes (ops; all-reduces from start to completion; waits), time in ms."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("plot_timeline needs matplotlib: pip install matplotlib") from error
    if not isinstance(trace, dict):
        with open(trace) as f:
            trace = json.load(f)
    spans = _spans(trace)
    if not spans:
        raise ValueError("plot_timeline: the trace has no op or communication spans")
    origin = min(start for rank in spans.values() for _, start, _, _ in rank)
    ranks = sorted(spans)
    fig, ax = plt.subplots(figsize=(12, 1.2 + 1.1 * len(ranks)))
    lanes = [_COMPUTE] + list(_LANES.values())
    for row, rank in enumerate(ranks):
        for lane, colour, _ in lanes:
            bars = [((s - origin) / 1e3, (e - s) / 1e3) for l, s, e, _ in spans[rank] if l == lane]
            y = (len(ranks) - 1 - row) * 4 + (2 - lane)  # rank 0 on top, ops above communication
            ax.broken_barh(bars, (y, 0.8), facecolors=colour)
    ax.set_yticks([(len(ranks) - 1 - row) * 4 + 1.4 for row in range(len(ranks))], [f"rank {r}" for r in ranks])
    ax.set_xlabel("time (ms)")
    ax.set_title(title, pad=24)
    ax.legend(handles=[matplotlib.patches.Patch(color=c, label=label) for _, c, label in lanes],
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path
