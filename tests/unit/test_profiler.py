"""distgrad.profiler: op rows forward and backward, record_function ranges, self times, the
table, the Chrome trace, schedules, the multi-rank timeline, and nothing left installed once a
profile stops."""
import importlib.util
import json

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.autograd import engine
from distgrad.function import Function
from distgrad.profiler import (ProfilerActivity, clock_ns, merge_chrome_traces, profile, record_function,
                               record_span, schedule, tensorboard_trace_handler)
from distgrad.profiler.averages import key_averages
from distgrad.profiler.cuda import DeviceTimer
from distgrad.profiler.recorder import Recorder

PLAIN_APPLY = Function.__dict__["apply"]


def mlp_step():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x, y = dg.randn(4, 6), dg.tensor([0, 2, 1, 0])

    def step():
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
    return step


def rows_by_key(prof, **kw):
    return {row.key: row for row in prof.key_averages(**kw)}


def test_forward_and_backward_ops_are_counted():
    step = mlp_step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    rows = rows_by_key(prof)
    assert rows["distgrad::linear"].count == 6 and rows["LinearBackward"].count == 6
    assert rows["distgrad::relu"].count == 3 and rows["ReluBackward"].count == 3
    assert rows["distgrad::cross_entropy"].count == 3 and rows["CrossEntropyBackward"].count == 3
    for row in rows.values():
        assert 0 < row.self_cpu_time_total <= row.cpu_time_total
        assert row.cpu_time == pytest.approx(row.cpu_time_total / row.count)


def test_nothing_stays_installed_after_stop_or_an_error():
    step = mlp_step()
    with pytest.raises(ZeroDivisionError):
        with profile():
            assert Function.__dict__["apply"] is not PLAIN_APPLY and engine.backward_timer is not None
            step()
            1 / 0
    assert Function.__dict__["apply"] is PLAIN_APPLY and engine.backward_timer is None


def test_profiles_do_not_nest():
    with profile():
        with pytest.raises(RuntimeError, match="already recording"):
            with profile():
                pass
    assert Function.__dict__["apply"] is PLAIN_APPLY


def test_record_function_ranges_hold_their_ops_and_self_time_is_total_less_children():
    step = mlp_step()

    @record_function("decorated")
    def decorated():
        step()

    decorated()  # no profile recording: a plain call
    with profile() as prof:
        with record_function("outer"):
            decorated()
    events = prof.events()
    outer = next(e for e in events if e.name == "outer")
    inner = next(e for e in events if e.name == "decorated")
    assert outer.category == inner.category == "user_annotation"
    ops = [e for e in events if e.category == "cpu_op"]
    assert len(ops) == 8
    assert all(inner.start_ns <= e.start_ns and e.start_ns + e.duration_ns <= inner.start_ns + inner.duration_ns
               for e in ops)
    assert inner.self_ns == inner.duration_ns - sum(e.duration_ns for e in ops)
    assert outer.self_ns == outer.duration_ns - inner.duration_ns
    rows = rows_by_key(prof)
    total_self = sum(r.self_cpu_time_total for r in rows.values())
    assert rows["outer"].cpu_time_total == pytest.approx(total_self)


def test_table_sorts_limits_and_names_its_columns():
    step = mlp_step()
    with profile() as prof:
        step()
    averages = prof.key_averages()
    table = averages.table(sort_by="self_cpu_time_total", row_limit=3)
    lines = table.splitlines()
    header = lines[1]
    for title in ("Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"):
        assert title in header
    body = lines[3:-2]
    assert len(body) == 3
    expected = sorted(averages, key=lambda r: r.self_cpu_time_total, reverse=True)[:3]
    assert [line.split()[0] for line in body] == [r.key for r in expected]
    assert lines[-1].startswith("Self CPU time total: ")
    by_count = averages.table(sort_by="count").splitlines()[3]
    assert by_count.split()[0] == "distgrad::linear" and by_count.split()[-1] == "2"
    with pytest.raises(ValueError, match="sort_by='bogus'"):
        averages.table(sort_by="bogus")


def test_shapes_and_memory_when_asked():
    step = mlp_step()
    with profile(record_shapes=True, profile_memory=True) as prof:
        step()
    rows = prof.key_averages(group_by_input_shape=True)
    linear_shapes = sorted(r.input_shapes for r in rows if r.key == "distgrad::linear")
    assert linear_shapes == [[[4, 5], [3, 5], [3]], [[4, 6], [5, 6], [5]]]
    relu = rows_by_key(prof)["distgrad::relu"]
    assert relu.self_cpu_memory_usage == 4 * 5 * 4  # one float32 (4, 5) output
    table = rows.table()
    assert "Input Shapes" in table and "CPU Mem" in table and "[[4, 6], [5, 6], [5]]" in table
    with pytest.raises(RuntimeError, match="record_shapes"):
        with profile() as plain:
            step()
        plain.key_averages(group_by_input_shape=True)


def _check_trace_event_format(trace):
    """Chrome trace-event JSON: what Perfetto and chrome://tracing need of each event, and
    complete events on one thread either nested or apart."""
    assert set(trace) >= {"traceEvents"}
    spans, begun = {}, {}
    for event in trace["traceEvents"]:
        assert isinstance(event["name"], str) and event["ph"] in ("X", "M", "b", "e")
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        if event["ph"] in ("b", "e"):  # async pairs: same id, cat and name, end after begin
            key = (event["pid"], event["id"], event["cat"], event["name"])
            if event["ph"] == "b":
                begun[key] = event["ts"]
            else:
                assert event["ts"] >= begun.pop(key)
        elif event["ph"] == "X":
            assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
            assert isinstance(event["dur"], (int, float)) and event["dur"] >= 0
            assert isinstance(event["cat"], str) and isinstance(event["args"], dict)
            spans.setdefault((event["pid"], event["tid"]), []).append((event["ts"], event["ts"] + event["dur"]))
        else:
            assert event["name"] in ("process_name", "thread_name", "process_sort_index")
            assert "name" in event["args"] or isinstance(event["args"]["sort_index"], int)
    assert not begun, "async spans begun and never ended"
    for intervals in spans.values():
        intervals.sort(key=lambda span: (span[0], -span[1]))
        open_ends = []
        for start, end in intervals:
            while open_ends and open_ends[-1] <= start + 1e-3:
                open_ends.pop()
            assert not open_ends or end <= open_ends[-1] + 1e-3, "overlapping spans that do not nest"
            open_ends.append(end)
    return spans


def test_chrome_trace_is_valid_trace_event_json(tmp_path):
    step = mlp_step()
    with profile(record_shapes=True) as prof:
        with record_function("step"):
            step()
    path = prof.export_chrome_trace(str(tmp_path / "trace.json"))
    trace = json.loads(open(path).read())
    spans = _check_trace_event_format(trace)
    names = [e["name"] for e in trace["traceEvents"] if e["ph"] == "X"]
    assert names[0] == "step" and names.count("distgrad::linear") == 2 and "LinearBackward" in names
    assert sum(len(s) for s in spans.values()) == len(prof.events())
    linear = next(e for e in trace["traceEvents"] if e["name"] == "distgrad::linear")
    assert linear["cat"] == "cpu_op" and linear["args"]["Input Dims"] == [[4, 6], [5, 6], [5]]


@pytest.mark.filterwarnings("ignore:Profiler won.t be using warmup")
def test_schedule_matches_pytorch():
    torch = pytest.importorskip("torch")
    for kw in [dict(wait=1, warmup=1, active=2), dict(wait=0, warmup=0, active=1, repeat=3),
               dict(wait=2, warmup=1, active=3, repeat=2, skip_first=3),
               dict(wait=2, warmup=0, active=2, skip_first=1, skip_first_wait=1)]:
        ours, theirs = schedule(**kw), torch.profiler.schedule(**kw)
        assert [ours(s).name for s in range(30)] == [theirs(s).name for s in range(30)], kw
    with pytest.raises(ValueError, match="active > 0"):
        schedule(wait=0, warmup=0, active=0)


def test_schedule_records_the_active_steps_and_hands_each_cycle_over(tmp_path):
    step = mlp_step()
    ready = []
    handler = tensorboard_trace_handler(str(tmp_path), worker_name="rank0")

    def on_ready(prof):
        ready.append((prof.step_num, rows_by_key(prof)))
        handler(prof)

    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2), on_trace_ready=on_ready) as prof:
        for _ in range(10):
            step()
            prof.step()
    assert [n for n, _ in ready] == [4, 8]
    first = ready[0][1]
    assert set(k for k in first if k.startswith("ProfilerStep#")) == {"ProfilerStep#2", "ProfilerStep#3"}
    assert first["distgrad::linear"].count == 4 and first["LinearBackward"].count == 4
    assert "ProfilerStep#6" in ready[1][1]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and all(f.startswith("rank0.") and f.endswith(".pt.trace.json") for f in files)
    _check_trace_event_format(json.loads((tmp_path / files[0]).read_text()))
    assert Function.__dict__["apply"] is PLAIN_APPLY


class FakeCudaEvent:
    clock = 0.0

    def record(self):
        FakeCudaEvent.clock += 0.5  # milliseconds between records
        self.at = FakeCudaEvent.clock

    def synchronize(self):
        pass


class FakeCupy:
    """The few CuPy names DeviceTimer uses; NumPy arrays stand for device arrays."""
    ndarray = np.ndarray

    class cuda:
        Event = FakeCudaEvent

        @staticmethod
        def get_elapsed_time(start, end):
            return end.at - start.at


def test_device_times_come_from_cuda_event_pairs():
    recorder = Recorder(device_timer=DeviceTimer(FakeCupy))
    array = np.zeros(3)
    start = recorder.begin()
    pending = recorder.device_timer.start(array)
    recorder.end("distgrad::relu", "cpu_op", start, device=recorder.device_timer.stop(pending))
    assert recorder.device_timer.start([1.0]) is None  # not a device array: no event
    recorder.resolve_device_times()
    (row,) = key_averages(recorder.events)
    assert row.device_time_total == pytest.approx(500.0) and row.cuda_time_total == row.device_time_total
    table = key_averages(recorder.events).table()
    assert "Self CUDA" in table and "500.000us" in table and "Self CUDA time total: 500.000us" in table


def test_with_stack_keeps_the_callers_frames():
    x = dg.ones(3, requires_grad=True)
    with profile(with_stack=True) as prof:
        y = dg.relu(x)  # the frame every op event should point at
    (event,) = prof.events()
    assert event.stack[0].startswith(__file__) and event.stack[0].endswith("test_with_stack_keeps_the_callers_frames")
    (row,) = prof.key_averages(group_by_stack_n=1)
    assert row.key == "distgrad::relu" and row.stack == event.stack[:1]
    assert y.grad_fn is not None


def test_spans_get_a_row_of_their_own_and_rank_traces_merge(tmp_path, monkeypatch):
    """What communication code records with record_span (an all-reduce from start to
    completion, overlapping backward ops) and two ranks' traces merged into one."""
    step = mlp_step()
    record_span("all_reduce", 0, 10)  # no profile recording: nothing happens
    paths = []
    for rank in (0, 1):
        monkeypatch.setenv("PMI_RANK", str(rank))
        monkeypatch.setenv("PMI_SIZE", "2")
        with profile() as prof:
            started = clock_ns()
            step()
            record_span("all_reduce", started, clock_ns(), bytes=4096, bucket=0)
        paths.append(prof.export_chrome_trace(str(tmp_path / f"rank{rank}.json")))
    (row,) = [r for r in prof.key_averages() if r.key == "all_reduce"]
    assert row.count == 1 and row.self_cpu_time_total == 0 and row.cpu_time_total > 0
    merged = json.loads(open(merge_chrome_traces(paths, str(tmp_path / "all.json"))).read())
    _check_trace_event_format(merged)
    names = {e["args"]["name"] for e in merged["traceEvents"] if e["name"] in ("process_name", "thread_name")}
    assert {"rank 0", "rank 1", "communication"} <= names
    begins = [e for e in merged["traceEvents"] if e["name"] == "all_reduce" and e["ph"] == "b"]
    ends = [e for e in merged["traceEvents"] if e["name"] == "all_reduce" and e["ph"] == "e"]
    assert len(begins) == len(ends) == 2 and begins[0]["args"] == {"bytes": 4096, "bucket": 0}
    assert ends[0]["ts"] <= begins[1]["ts"]  # one clock: rank 1 ran after rank 0


TIMELINE_JOB = """
import sys
import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
from distgrad.profiler import record_function, timeline

dist.init()
dg.manual_seed(0)
model = dist.DistributedDataParallel(nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5)),
                                     bucket_cap_mb=0.001)  # a bucket per parameter
opt = dg.optim.SGD(model.parameters(), lr=0.1)
x, y = dg.randn(8, 20), dg.randint(0, 5, (8,))
with timeline(sys.argv[1]):
    for step in range(3):
        with record_function(f"step {step}"):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
"""


@pytest.mark.timeout(150)
def test_two_rank_timeline_has_every_ranks_ops_and_all_reduces_in_order(tmp_path, mpiexec):
    import os
    import subprocess
    import sys
    script, trace_path = tmp_path / "job.py", tmp_path / "trace.json"
    script.write_text(TIMELINE_JOB)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_"))}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    job = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script), str(trace_path)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert job.returncode == 0, job.stdout + job.stderr
    trace = json.loads(trace_path.read_text())
    _check_trace_event_format(trace)
    events = trace["traceEvents"]
    assert {e["args"]["name"] for e in events if e["name"] == "process_name"} == {"rank 0", "rank 1"}
    for rank in (0, 1):
        mine = [e for e in events if e["pid"] == rank]
        steps = [e for e in mine if e["name"].startswith("step ")]
        assert [e["name"] for e in steps] == ["step 0", "step 1", "step 2"]
        assert all(a["ts"] + a["dur"] <= b["ts"] for a, b in zip(steps, steps[1:]))
        assert sum(e["name"] == "LinearBackward" for e in mine) == 6
        reduces = [e for e in mine if e["name"] == "all_reduce" and e["ph"] == "b" and e["args"]["op"] == "sum"]
        assert len(reduces) == 3 * 4  # four parameters, a bucket each, every step
        for step in steps:  # each step's buckets start inside it, in order, with their sizes
            inside = [e for e in reduces if step["ts"] <= e["ts"] <= step["ts"] + step["dur"]]
            assert [e["args"]["bucket"] for e in inside] == [0, 1, 2, 3]
            sizes = sorted(e["args"]["bytes"] for e in inside)  # a bucket may carry one more element
            assert all(0 <= got - want <= 8 for got, want in zip(sizes, [20, 256, 1280, 5120])), sizes
    # the picture: per rank, op spans and all-reduce spans (the lanes plot_timeline draws)
    from distgrad.profiler.plot import _spans
    kinds = {rank: {kind for kind, *_ in spans} for rank, spans in _spans(trace).items()}
    assert set(kinds) == {0, 1}  # waits may not block
    assert all({"cpu_op", "communication", "gradients ready", "optimizer"} <= found for found in kinds.values())
    if importlib.util.find_spec("matplotlib") is not None:
        from distgrad.profiler import plot_timeline
        png = plot_timeline(str(trace_path), str(tmp_path / "timeline.png"))
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_failing_timeline_leaves_this_ranks_trace_and_unwraps_the_communicator(tmp_path):
    from distgrad.profiler import timeline
    from distgrad.world.comm.base import Communicator, Work
    from distgrad.world.comm.local import LocalCommunicator
    plain = (Communicator.iallreduce, Work.wait)
    comm, step = LocalCommunicator(), mlp_step()
    with pytest.raises(KeyError):
        with timeline(str(tmp_path / "t.json"), comm=comm):
            step()
            comm.allreduce(np.ones(3, np.float32))
            raise KeyError("a failure mid-step")
    assert (Communicator.iallreduce, Work.wait) == plain and Function.__dict__["apply"] is PLAIN_APPLY
    assert not (tmp_path / "t.json").exists()
    trace = json.loads((tmp_path / "t.json.rank0.json").read_text())
    _check_trace_event_format(trace)
    names = [e["name"] for e in trace["traceEvents"]]
    assert "LinearBackward" in names and names.count("all_reduce") == 2  # begin and end
    with timeline(str(tmp_path / "ok.json"), comm=comm):
        step()
    assert json.loads((tmp_path / "ok.json").read_text())["traceEvents"][0]["args"] == {"name": "rank 0"}


def test_custom_functions_are_timed_forward_and_backward():
    class Cube(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * grad

    x = dg.tensor([1.0, 2.0], requires_grad=True)
    with profile() as prof:
        Cube.apply(x).sum().backward()
    rows = rows_by_key(prof)
    assert rows["Cube"].count == 1 and rows["CubeBackward"].count == 1
    inner = [e for e in prof.events() if e.name.startswith("distgrad::pow")]
    cube = next(e for e in prof.events() if e.name == "Cube")
    assert inner and cube.self_ns == cube.duration_ns - sum(e.duration_ns for e in inner[:1])  # x ** 3 nests
    assert x.grad.tolist() == [3.0, 12.0]


def test_two_traces_in_one_millisecond_are_both_kept(tmp_path, monkeypatch):
    import time as time_module
    monkeypatch.setattr(time_module, "time_ns", lambda: 1_700_000_000_000_000_000)  # a clock that stands still
    handler = tensorboard_trace_handler(str(tmp_path), worker_name="rank0")
    step = mlp_step()
    for _ in range(2):
        with profile() as prof:
            step()
        handler(prof)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0.1700000000000.pt.trace.json",
                                                          "rank0.1700000000001.pt.trace.json"]
