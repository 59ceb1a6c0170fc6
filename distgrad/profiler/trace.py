"""Chrome trace-event JSON (opens in Perfetto and chrome://tracing), PyTorch's
``tensorboard_trace_handler``, and the merge of several processes' traces into one.

Timestamps are the monotonic clock's microseconds, one clock for every process of a host, so
the traces of a one-host job's ranks line up when merged (ranks on other hosts would need a
clock offset, not estimated here).
"""
import gzip
import json
import os
import socket
import time

from ..utils.ranks import launched_rank_and_size


def chrome_trace(events, rank=None, offset_ns=0):
    """The trace as a dict: one complete ("X") event per range, an async begin/end pair per
    span; a row per thread and one per span category (communication, ...); the process named
    by its rank (given, or the launcher's). ``offset_ns`` is taken off every time (this
    clock's lead on the clock the trace is to be read against)."""
    if rank is None:
        launched = launched_rank_and_size()
        rank = launched[0] if launched else None
        pid = os.getpid()
    else:  # a job's merged timeline: one process row per rank, whatever the hosts' pids
        pid = rank
    trace = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
              "args": {"name": f"rank {rank}" if rank is not None else f"distgrad {pid}"}},
             {"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
              "args": {"sort_index": rank if rank is not None else pid}}]
    rows = {}
    for event in sorted(events, key=lambda e: (e.start_ns, -e.duration_ns)):
        tid = rows.setdefault(event.thread, len(rows) + 1)
        args = dict(event.args or {})
        if event.input_shapes is not None:
            args["Input Dims"] = event.input_shapes
        if event.stack:
            args["Call stack"] = ";".join(event.stack)
        if event.memory:
            args["Memory bytes"] = event.memory
        if event.device_ns:
            args["CUDA time us"] = event.device_ns / 1e3
        if isinstance(event.thread, str):  # a span: may overlap others of its row, so async begin/end
            common = {"cat": event.category, "name": event.name, "pid": pid, "tid": tid, "id": len(trace)}
            trace.append({"ph": "b", "ts": (event.start_ns - offset_ns) / 1e3, "args": args, **common})
            trace.append({"ph": "e", "ts": (event.start_ns + event.duration_ns - offset_ns) / 1e3, **common})
            continue
        trace.append({"ph": "X", "cat": event.category, "name": event.name, "pid": pid, "tid": tid,
                      "ts": (event.start_ns - offset_ns) / 1e3, "dur": event.duration_ns / 1e3, "args": args})
    for key, tid in rows.items():
        name = key if isinstance(key, str) else f"thread {tid} ({key})"
        trace.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
    return {"traceEvents": trace, "displayTimeUnit": "ms"}


def _opener(path, use_gzip):
    use_gzip = str(path).endswith(".gz") if use_gzip is None else use_gzip
    return gzip.open if use_gzip else open


def _write(trace, path, use_gzip=None):
    """``trace`` as JSON at ``path`` (its folder made if missing); gzip when asked or when
    ``path`` ends in .gz."""
    folder = os.path.dirname(str(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    with _opener(path, use_gzip)(path, "wb") as f:
        f.write(json.dumps(trace).encode())
    return path


def write_chrome_trace(events, path, use_gzip=None, rank=None):
    return _write(chrome_trace(events, rank=rank), path, use_gzip)


def merge_chrome_traces(paths, out_path):
    """One trace of several (e.g. each rank's ``export_chrome_trace``): every process keeps its
    rows, ordered by rank. Returns ``out_path``."""
    traces = []
    for path in paths:
        with _opener(path, None)(path, "rb") as f:
            traces.append(json.loads(f.read()))
    return write_merged(traces, out_path)


def write_merged(traces, out_path):
    merged = [event for trace in traces for event in trace["traceEvents"]]
    return _write({"traceEvents": merged, "displayTimeUnit": "ms"}, out_path)


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """An ``on_trace_ready`` that writes ``{dir_name}/{worker}.{ms}.pt.trace.json[.gz]`` each
    time a cycle is recorded, where TensorBoard's profiler plugin looks for traces."""
    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        stamp = time.time_ns() // 1_000_000
        while True:  # two cycles in one millisecond must not write over each other's trace
            path = os.path.join(dir_name, f"{worker}.{stamp}.pt.trace.json" + (".gz" if use_gzip else ""))
            if not os.path.exists(path):
                break
            stamp += 1
        prof.export_chrome_trace(path)
    return handler
