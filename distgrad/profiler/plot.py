"""A picture of a timeline: ranks as rows, compute, communication and waits as coloured spans,
so whether all-reduces overlap backward shows at a glance. Needs matplotlib."""
import json

# lanes of a rank, top to bottom: (which events, colour, legend) per kind of span
_OPS = "cpu_op"
_PASSES = ("forward", "backward")
_KINDS = {  # trace category -> (lane, colour, legend)
    "forward": (0, "tab:cyan", "forward"),
    "backward": (0, "tab:blue", "backward"),
    _OPS: (0, "tab:blue", "ops (forward, backward)"),  # drawn where no pass ranges are (a profile's trace)
    "data": (1, "tab:green", "data loading"),
    "optimizer": (1, "tab:purple", "optimizer step"),
    "checkpoint": (1, "tab:brown", "checkpoint write"),
    "communication": (2, "tab:orange", "collective in flight"),
    "gradients ready": (2, "black", "bucket's gradients ready"),
    "communication wait": (3, "tab:red", "blocked in wait"),
}
_LANES = 4


def _spans(trace):
    """{rank pid: [(category, start_us, end_us, name)]} from a trace dict: the kinds drawn."""
    spans, begun = {}, {}
    for event in trace["traceEvents"]:
        category = event.get("cat")
        if category not in _KINDS:
            continue
        if event["ph"] == "X":
            spans.setdefault(event["pid"], []).append((category, event["ts"], event["ts"] + event["dur"], event["name"]))
        elif event["ph"] == "b":
            begun[event["pid"], event["id"]] = event["ts"]
        elif event["ph"] == "e":
            start = begun.pop((event["pid"], event["id"]))
            spans.setdefault(event["pid"], []).append((category, start, event["ts"], event["name"]))
    return spans


def plot_timeline(trace, png_path, title="timeline"):
    """Draw ``trace`` (a path to a timeline's JSON, or the dict) into ``png_path``: per rank a
    band of lanes (forward and backward passes, else ops; data loading, optimizer steps and checkpoints; collectives from start
    to completion, with a tick where each bucket's gradients were ready; waits), time in ms."""
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
    for rank, found in spans.items():
        if any(category in _PASSES for category, *_ in found):
            spans[rank] = [span for span in found if span[0] != _OPS]
    if not spans:
        raise ValueError("plot_timeline: the trace has no op or communication spans")
    origin = min(start for rank in spans.values() for _, start, _, _ in rank)
    end = max(stop for rank in spans.values() for _, _, stop, _ in rank)
    tick = (end - origin) / 1e3 / 600  # a mark's width: visible at any zoom of the whole picture
    ranks = sorted(spans)
    band = _LANES + 1
    fig, ax = plt.subplots(figsize=(12, 1.2 + 1.3 * len(ranks)))
    drawn = []
    for row, rank in enumerate(ranks):
        for category, (lane, colour, label) in _KINDS.items():
            bars = [((s - origin) / 1e3, max((e - s) / 1e3, tick)) for c, s, e, _ in spans[rank] if c == category]
            if not bars:
                continue
            y = (len(ranks) - 1 - row) * band + (_LANES - 1 - lane)  # rank 0 on top, ops above communication
            ax.broken_barh(bars, (y, 0.8), facecolors=colour)
            if label not in drawn:
                drawn.append(label)
    ax.set_yticks([(len(ranks) - 1 - row) * band + _LANES / 2 for row in range(len(ranks))], [f"rank {r}" for r in ranks])
    ax.set_xlabel("time (ms)")
    ax.set_title(title, pad=34)
    legend = [matplotlib.patches.Patch(color=c, label=label) for _, c, label in _KINDS.values() if label in drawn]
    ax.legend(handles=legend, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path
