"""The run timeline as users switch it on: ``distgrad-run --timeline trace.json`` on a 2-rank
MNIST run gives one trace in the trace-event format (what Perfetto opens) with every rank's
steps, collectives and data loading in order; ``DISTGRAD_TIMELINE`` under plain mpiexec
leaves a failing rank's trace up to the failure."""
import json
import os
import sys

import pytest

from jobs import REPO, clean_environment, run

MNIST = os.environ.get("DISTGRAD_DATA") or str(REPO.parent / "shared" / "datasets" / "mnist")
STEPS = 4


def check_trace_event_format(trace):
    """The fields every event needs; complete events have a duration; async begin/end pairs
    balance per (process, category, id) and end no earlier than they begin."""
    assert isinstance(trace["traceEvents"], list) and trace["traceEvents"]
    open_spans = {}
    for event in trace["traceEvents"]:
        assert {"ph", "pid", "tid", "name"} <= set(event), event
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int), event
        if event["ph"] == "M":
            continue
        assert isinstance(event["ts"], (int, float)), event
        if event["ph"] == "X":
            assert event["dur"] >= 0, event
        elif event["ph"] == "b":
            key = (event["pid"], event["cat"], event["id"])
            assert key not in open_spans, event
            open_spans[key] = event["ts"]
        elif event["ph"] == "e":
            assert event["ts"] >= open_spans.pop((event["pid"], event["cat"], event["id"])), event
        else:
            raise AssertionError(f"unexpected phase {event['ph']!r}: {event}")
    assert not open_spans, f"begun, never ended: {open_spans}"


def spans(events, name):
    """(start, end, args) of each span called ``name``, complete or begin/end, by start."""
    found, begun = [], {}
    for event in events:
        if event["name"] != name:
            continue
        if event["ph"] == "X":
            found.append((event["ts"], event["ts"] + event["dur"], event.get("args", {})))
        elif event["ph"] == "b":
            begun[event["id"]] = event
        elif event["ph"] == "e":
            start = begun.pop(event["id"])
            found.append((start["ts"], event["ts"], start.get("args", {})))
    return sorted(found, key=lambda span: span[0])


@pytest.mark.timeout(200)
def test_distgrad_run_timeline_of_a_two_rank_mnist_run(tmp_path, mpiexec):
    if not os.path.isdir(MNIST):
        pytest.skip(f"MNIST not found at {MNIST} (set DISTGRAD_DATA)")
    trace_path = tmp_path / "trace.json"
    cmd = [sys.executable, "-m", "distgrad.run", "--mpiexec", mpiexec, "-n", "2", "--timeline", trace_path,
           "-x", "DISTGRAD_TIMELINE_OPS=1",  # every op too
           REPO / "examples" / "mnist_mlp.py", "--epochs", "1", "--max-steps", str(STEPS), "--data-dir", MNIST,
           "--output", tmp_path]
    job = run(cmd, 150, clean_environment())
    assert job.returncode == 0, job.output
    trace = json.loads(trace_path.read_text())
    check_trace_event_format(trace)
    events = trace["traceEvents"]
    assert {e["args"]["name"] for e in events if e["name"] == "process_name"} == {"rank 0", "rank 1"}
    assert not list(tmp_path.glob("trace.json.rank*")), "a rank wrote a trace of its own"
    for rank in (0, 1):
        mine = [e for e in events if e["pid"] == rank]
        steps = spans(mine, "optimizer.step")
        assert len(steps) == STEPS
        assert all(a[1] <= b[0] for a, b in zip(steps, steps[1:]))  # one after another
        backward = spans(mine, "backward")
        assert len(backward) == STEPS and all(b[1] <= s[0] for b, s in zip(backward, steps))
        forward = spans(mine, "forward")[:STEPS]  # then evaluation's
        assert len(forward) == STEPS and all(f[1] <= b[0] for f, b in zip(forward, backward))
        assert len(spans(mine, "LinearBackward")) == 2 * STEPS
        assert len(spans(mine, "DataLoader.__next__")) >= STEPS
        reduces = [s for s in spans(mine, "all_reduce") if "bucket" in s[2]]
        ready = spans(mine, "gradient ready")
        assert reduces and len(ready) == len(reduces)
        for (start, end, facts), mark in zip(reduces, ready):
            assert facts["bytes"] > 0 and start <= end
            assert mark[0] <= start and mark[2]["bucket"] == facts["bucket"]  # ready, then sent
        for back, step in zip(backward, steps):  # each step's buckets leave during its backward
            inside = [s for s in reduces if back[0] <= s[0] <= back[1]]
            assert [s[2]["bucket"] for s in inside] == list(range(len(inside))) and inside
            assert all(s[1] <= step[0] for s in inside)  # reduced before the update
    for rank in (0, 1):  # each rank's ops on its own rows, in time order per row
        rows = {}
        for event in (e for e in events if e["pid"] == rank and e["ph"] == "X"):
            rows.setdefault(event["tid"], []).append(event["ts"])
        assert rows and all(times == sorted(times) for times in rows.values())


FAILING_JOB = """
import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn

dist.init()
dg.manual_seed(0)
model = dist.DistributedDataParallel(nn.Linear(8, 2))
optimizer = dg.optim.SGD(model.parameters(), lr=0.1)
for step in range(3):
    optimizer.zero_grad()
    model(dg.randn(4, 8)).sum().backward()
    optimizer.step()
    if step == 1 and dist.get_rank() == 1:
        raise RuntimeError("rank 1 fails after two steps")
"""


@pytest.mark.timeout(120)
def test_a_failing_rank_leaves_its_timeline_up_to_the_failure(tmp_path, mpiexec):
    script, trace_path = tmp_path / "job.py", tmp_path / "trace.json"
    script.write_text(FAILING_JOB)
    job = run([mpiexec, "-n", "2", sys.executable, script], 90, clean_environment(DISTGRAD_TIMELINE=trace_path))
    assert job.returncode != 0 and "rank 1 fails after two steps" in job.output, job.output
    trace = json.loads((tmp_path / "trace.json.rank1.json").read_text())
    check_trace_event_format(trace)
    events = trace["traceEvents"]
    assert [e["args"]["name"] for e in events if e["name"] == "process_name"] == ["rank 1"]
    assert len(spans(events, "optimizer.step")) == 2 and len(spans(events, "all_reduce")) >= 2
    assert len(spans(events, "backward")) == 2 and not [e for e in events if e.get("cat") == "cpu_op"]


def test_the_launcher_hands_every_rank_the_trace_path_made_absolute(tmp_path, monkeypatch):
    from distgrad.launcher.command import LaunchError, timeline_env
    monkeypatch.chdir(tmp_path)
    assert timeline_env("t.json") == {"DISTGRAD_TIMELINE": str(tmp_path / "t.json")}
    assert timeline_env(None) == {}
    with pytest.raises(LaunchError, match="--timeline needs a file path"):
        timeline_env("out/")


def test_without_the_variable_nothing_records_and_nothing_is_swapped_in():
    import distgrad  # noqa: F401  (imported: where the variable would start a recording)
    from distgrad.optim.optimizer import Optimizer
    from distgrad.profiler import hooks, run_timeline
    from distgrad.world import failure
    from distgrad.world.comm.base import Communicator, Work
    assert "DISTGRAD_TIMELINE" not in os.environ
    assert run_timeline.recording() is None and hooks.current() is None and not failure.world_hooks
    for owner, name in ((Communicator, "iallreduce"), (Work, "wait"), (Optimizer, "step")):
        assert getattr(owner, name).__module__ != "distgrad.profiler.patches", (owner, name)
