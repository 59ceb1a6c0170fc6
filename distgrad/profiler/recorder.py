"""What a running profiler collects: timed ranges (ops forward and backward, record_function
ranges) as flat events, each with its self time (its duration less its direct children's).

Ranges nest per thread; each open range holds what its children used so far, so self times
come out at the end of a range without a second pass over the events.
"""
import os
import sys
import threading
from time import perf_counter_ns

_thread_id = threading.get_ident
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Event:
    """One timed range. Times in nanoseconds on ``perf_counter_ns``'s clock; ``device`` is a
    pending (start, end) CUDA event pair until resolved into ``device_ns``."""

    __slots__ = ("name", "category", "start_ns", "duration_ns", "self_ns", "thread", "input_shapes",
                 "memory", "self_memory", "stack", "device", "device_ns", "args")

    def __init__(self, name, category, start_ns, duration_ns, self_ns, thread, input_shapes=None,
                 memory=0, self_memory=0, stack=None, device=None, args=None):
        self.name, self.category = name, category
        self.start_ns, self.duration_ns, self.self_ns = start_ns, duration_ns, self_ns
        self.thread, self.input_shapes, self.stack = thread, input_shapes, stack
        self.memory, self.self_memory = memory, self_memory
        self.device, self.device_ns = device, 0
        self.args = args

    def __repr__(self):
        return f"<Event {self.name} {self.duration_ns / 1e3:.3f}us>"


class Recorder:
    """Collects events while a profile records. ``begin`` opens a range on this thread and
    returns its start; ``end`` closes the innermost one."""

    def __init__(self, record_shapes=False, profile_memory=False, with_stack=False, device_timer=None):
        self.record_shapes, self.profile_memory, self.with_stack = record_shapes, profile_memory, with_stack
        self.device_timer = device_timer  # distgrad.profiler.cuda.DeviceTimer, or None: CPU only
        self._raw = []     # one tuple of Event's fields per event: cheaper to make while recording
        self._events = []  # the Event objects made of them so far
        self._local = threading.local()

    @property
    def events(self):
        """Every event so far, as Event objects."""
        if len(self._events) < len(self._raw):
            self._events += [Event(*fields) for fields in self._raw[len(self._events):]]
        return self._events

    def begin(self):
        try:  # per open range: [children's time, children's memory] so far
            self._local.ranges.append([0, 0])
        except AttributeError:  # this thread's first range
            self._local.ranges = [[0, 0]]
        return perf_counter_ns()

    def end(self, name, category, start_ns, input_shapes=None, memory=0, device=None):
        end_ns = perf_counter_ns()
        ranges = self._local.ranges
        children_ns, children_memory = ranges.pop()
        duration = end_ns - start_ns
        total_memory = memory + children_memory
        if ranges:
            parent = ranges[-1]
            parent[0] += duration
            parent[1] += total_memory
        stack = _user_stack() if self.with_stack else None
        self._raw.append((name, category, start_ns, duration, duration - children_ns, _thread_id(),
                          input_shapes, total_memory, memory, stack, device))

    def span(self, name, category, start_ns, end_ns, args=None):
        """A range that need not nest in this thread's (a collective started in one call and
        finished in another): kept on a row of its own, ``category``; no self CPU time."""
        self._raw.append((name, category, start_ns, end_ns - start_ns, 0, category, None, 0, 0, None, None, args))

    def resolve_device_times(self):
        """Wait for pending CUDA events and turn them into device times (once, at stop)."""
        if self.device_timer is None:
            return
        for event in self.events:
            if event.device is not None:
                event.device_ns = self.device_timer.elapsed_ns(*event.device)
                event.device = None


def _user_stack(limit=5):
    """The innermost ``limit`` frames outside distgrad, as PyTorch prints them: file(line): function."""
    frames = []
    frame = sys._getframe(2)
    while frame is not None and len(frames) < limit:
        path = frame.f_code.co_filename
        if not path.startswith(_PACKAGE_DIR):
            frames.append(f"{path}({frame.f_lineno}): {frame.f_code.co_name}")
        frame = frame.f_back
    return frames
