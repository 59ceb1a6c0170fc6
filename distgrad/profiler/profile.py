"""``distgrad.profiler.profile``: PyTorch's profiler shape over distgrad's ops.

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("train_step"):
            loss = model(x).sum(); loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")
"""
import contextlib
from enum import Enum
from time import perf_counter_ns as clock_ns  # the clock of every event, for record_span's times

from . import cuda, hooks
from .averages import EventList, key_averages
from .recorder import Recorder
from .schedule import RECORDING, ProfilerAction, record_everything
from .trace import write_chrome_trace


class ProfilerActivity(Enum):
    CPU = 0
    CUDA = 1


def supported_activities():
    return {ProfilerActivity.CPU} | ({ProfilerActivity.CUDA} if cuda.device_timer() else set())


class record_function(contextlib.ContextDecorator):
    """A named range in the profile (context manager or decorator); costs a lookup when no
    profile records. Ranges nest: ops inside count towards the range's total, not its self time."""

    def __init__(self, name, args=None):
        self.name, self.args = name, args
        self._open = []  # (recorder, start) per entry: a decorated function may recurse

    def __enter__(self):
        recorder = hooks.current()
        self._open.append((recorder, recorder.begin() if recorder is not None else 0))
        return self

    def __exit__(self, *exc):
        recorder, start = self._open.pop()
        if recorder is not None:
            recorder.end(self.name, "user_annotation", start)
        return False


def record_span(name, start_ns, end_ns, category="communication", **args):
    """Record a finished span timed with ``clock_ns()`` (e.g. an all-reduce from its start to
    its completion, with ``bytes=`` and ``bucket=``) on the ``category`` row of the trace; in
    key_averages it counts towards CPU total, not self CPU. Does nothing unless a profile
    records, so communication code may call it unconditionally."""
    recorder = hooks.current()
    if recorder is not None:
        recorder.span(name, category, start_ns, end_ns, args or None)


def gradient_ready(bucket, nbytes):
    """A mark where DDP's bucket ``bucket`` got its last gradient (its all-reduce starts then,
    or once the buckets before it have started). One lookup when no profile records."""
    recorder = hooks._recorder
    if recorder is not None:
        now = clock_ns()
        recorder.span("gradient ready", "gradients ready", now, now, {"bucket": bucket, "bytes": nbytes})


class profile:
    """Records op times (forward as ``distgrad::op``, backward as ``OpBackward``) and
    ``record_function`` ranges between ``start()`` and ``stop()`` (or the ``with`` block).

    ``schedule`` (see ``distgrad.profiler.schedule``) picks the steps recorded, counted by
    ``step()``; ``on_trace_ready(prof)`` runs at the end of each recorded cycle (and at stop
    when recording). ``profile_memory`` counts the bytes of each op's outputs; ``with_stack``
    keeps the innermost user frames of each event. CUDA: kernel time of ops on CuPy arrays.
    """

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=False, with_stack=False, with_flops=False, with_modules=False,
                 experimental_config=None, execution_trace_observer=None, acc_events=False):
        if with_flops or with_modules or execution_trace_observer is not None:
            raise NotImplementedError("profile: with_flops, with_modules and execution_trace_observer "
                                      "are not supported by distgrad's profiler")
        activities = set(supported_activities() if activities is None else activities)
        unknown = [a for a in activities if not isinstance(a, ProfilerActivity)]
        if unknown:
            raise TypeError(f"profile: activities must be ProfilerActivity members, got {unknown}")
        self.activities = activities
        self.record_shapes, self.profile_memory, self.with_stack = record_shapes, profile_memory, with_stack
        self.schedule = schedule or record_everything
        self.record_steps = schedule is not None  # ProfilerStep#N ranges, as PyTorch adds them
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = None
        self.recorder = None       # recording now, or None
        self._finished = None      # the last finished recording, read by key_averages/export
        self._step_range = None
        self._time_ops = True      # False: ranges and spans only (a run's timeline, unless asked)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.current_action = self.schedule(self.step_num)
        if self.current_action in RECORDING:
            self._start_recording()

    def stop(self):
        if self.recorder is not None:
            self._stop_recording()
            if self.on_trace_ready is not None:
                self.on_trace_ready(self)
        self.current_action = None

    def step(self):
        """Mark the end of a training step: moves the schedule on."""
        if self.current_action is None:
            return
        previous = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        if self.recorder is not None and (previous is ProfilerAction.RECORD_AND_SAVE
                                          or self.current_action not in RECORDING):
            self._stop_recording()
            if self.on_trace_ready is not None and previous is ProfilerAction.RECORD_AND_SAVE:
                self.on_trace_ready(self)
        if self.current_action in RECORDING:
            if self.recorder is None:
                self._start_recording()
            else:
                self._close_step_range()
                self._open_step_range()

    def _start_recording(self):
        timer = cuda.device_timer() if ProfilerActivity.CUDA in self.activities else None
        self.recorder = Recorder(self.record_shapes, self.profile_memory, self.with_stack, timer)
        hooks.install(self.recorder, self._time_ops)
        self._open_step_range()

    def _stop_recording(self):
        self._close_step_range()
        hooks.uninstall(self.recorder)
        self.recorder.resolve_device_times()
        self._finished, self.recorder = self.recorder, None

    def _open_step_range(self):
        if self.record_steps:
            self._step_range = record_function(f"ProfilerStep#{self.step_num}")
            self._step_range.__enter__()

    def _close_step_range(self):
        if self._step_range is not None:
            self._step_range.__exit__(None, None, None)
            self._step_range = None

    # -- results -----------------------------------------------------------------------------

    def events(self):
        """The raw events of the last finished recording, in the order they ended."""
        if self._finished is None:
            raise RuntimeError("profile: no finished recording yet (results are read after stop() or "
                               "the end of the with block, or in on_trace_ready)")
        return list(self._finished.events)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages(group_by_input_shape=True) needs profile(record_shapes=True)")
        if group_by_stack_n and not self.with_stack:
            raise RuntimeError("key_averages(group_by_stack_n=...) needs profile(with_stack=True)")
        return key_averages(self.events(), group_by_input_shape, group_by_stack_n)

    def export_chrome_trace(self, path):
        return write_chrome_trace(self.events(), path)


__all__ = ["EventList", "ProfilerActivity", "profile", "record_function", "record_span", "supported_activities"]
