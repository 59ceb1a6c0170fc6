"""Chrome trace-event JSON (opens in Perfetto and chrome://tracing) and PyTorch's
``tensorboard_trace_handler``, which writes one such file per recorded cycle."""
import gzip
import json
import os
import socket
import time


def chrome_trace(events, origin_ns=None):
    """The trace as a dict: one complete ("X") event per range, microsecond timestamps from
    ``origin_ns`` (default: the first event), one row per thread of this process."""
    pid = os.getpid()
    origin = min((e.start_ns for e in events), default=0) if origin_ns is None else origin_ns
    threads = {}
    trace = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": f"distgrad {pid}"}}]
    for event in sorted(events, key=lambda e: (e.start_ns, -e.duration_ns)):
        tid = threads.setdefault(event.thread, len(threads) + 1)
        args = {}
        if event.input_shapes is not None:
            args["Input Dims"] = event.input_shapes
        if event.stack:
            args["Call stack"] = ";".join(event.stack)
        if event.memory:
            args["Memory bytes"] = event.memory
        if event.device_ns:
            args["CUDA time us"] = event.device_ns / 1e3
        trace.append({"ph": "X", "cat": event.category, "name": event.name, "pid": pid, "tid": tid,
                      "ts": (event.start_ns - origin) / 1e3, "dur": event.duration_ns / 1e3, "args": args})
    for ident, tid in threads.items():
        trace.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                      "args": {"name": f"thread {tid} ({ident})"}})
    return {"traceEvents": trace, "displayTimeUnit": "ms"}


def write_chrome_trace(events, path, use_gzip=None):
    """Write the trace; gzip when asked or when ``path`` ends in .gz."""
    use_gzip = str(path).endswith(".gz") if use_gzip is None else use_gzip
    data = json.dumps(chrome_trace(events)).encode()
    with (gzip.open if use_gzip else open)(path, "wb") as f:
        f.write(data)
    return path


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """An ``on_trace_ready`` that writes ``{dir_name}/{worker}.{ms}.pt.trace.json[.gz]`` each
    time a cycle is recorded, where TensorBoard's profiler plugin looks for traces."""
    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker}.{time.time_ns() // 1_000_000}.pt.trace.json" + (".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(dir_name, name))
    return handler
