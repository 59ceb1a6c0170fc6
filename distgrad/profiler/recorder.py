"""What a running profiler collects: timed ranges (ops forward and backward, record_function
ranges) as flat events, each with its self time (its duration less its direct children's).

Recording keeps one flat tuple per range and nothing else: a range's self time and memory
are worked out when the events are read. Ranges end children first, so walking them in the
order they ended, each range takes as its children the ranges of its thread that ended since
it began and have no parent yet.
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
    """Collects events while a profile records. ``begin()`` is a range's start time; ``end``
    records the range (ranges of a thread nest, as calls do)."""

    begin = staticmethod(perf_counter_ns)

    def __init__(self, record_shapes=False, profile_memory=False, with_stack=False, device_timer=None):
        self.record_shapes, self.profile_memory, self.with_stack = record_shapes, profile_memory, with_stack
        self.device_timer = device_timer  # distgrad.profiler.cuda.DeviceTimer, or None: CPU only
        self.times_only = device_timer is None and not record_shapes and not profile_memory
        # per range: (name, category, start, end, thread, input shapes, memory, stack, device, args)
        self._raw = []
        self._events = []     # the Event objects made of them so far
        self._unclaimed = {}  # thread -> its events made so far that no range holds (yet)

    @property
    def events(self):
        """Every event so far, as Event objects."""
        for fields in self._raw[len(self._events):]:
            self._events.append(self._event(*fields))
        return self._events

    def _event(self, name, category, start, end, thread, shapes, memory, stack, device, args):
        event = Event(name, category, start, end - start, 0, thread, shapes, memory, memory, stack, device, args)
        if isinstance(thread, str):  # a span: on a row of its own, holding nothing
            return event
        unclaimed = self._unclaimed.setdefault(thread, [])
        children_ns = 0
        while unclaimed and unclaimed[-1].start_ns >= start:
            child = unclaimed.pop()
            children_ns += child.duration_ns
            event.memory += child.memory
        event.self_ns = event.duration_ns - children_ns
        unclaimed.append(event)
        return event

    def end(self, name, category, start_ns, input_shapes=None, memory=0, device=None):
        self._raw.append((name, category, start_ns, perf_counter_ns(), _thread_id(), input_shapes, memory,
                          _user_stack() if self.with_stack else None, device, None))

    def span(self, name, category, start_ns, end_ns, args=None):
        """A range that need not nest in this thread's (a collective started in one call and
        finished in another): kept on a row of its own, ``category``; no self CPU time."""
        self._raw.append((name, category, start_ns, end_ns, category, None, 0, None, None, args))

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
