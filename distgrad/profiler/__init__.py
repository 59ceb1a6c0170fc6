"""Where the time goes, with PyTorch's ``torch.profiler`` shape: ``profile``,
``record_function``, ``schedule``, ``key_averages().table()``, ``export_chrome_trace`` and
``tensorboard_trace_handler``. Ops are timed only while a profile records (see hooks.py)."""
from .averages import EventList, FunctionEventAvg
from .profile import ProfilerActivity, clock_ns, profile, record_function, record_span, supported_activities
from .plot import plot_timeline
from .schedule import ProfilerAction, schedule
from .timeline import timeline
from .trace import merge_chrome_traces, tensorboard_trace_handler

__all__ = ["EventList", "FunctionEventAvg", "ProfilerAction", "ProfilerActivity", "clock_ns",
           "merge_chrome_traces", "plot_timeline", "profile", "record_function", "record_span", "schedule",
           "supported_activities", "tensorboard_trace_handler", "timeline"]

from .run_timeline import start_if_asked as _start_if_asked  # noqa: E402
_start_if_asked()  # DISTGRAD_TIMELINE=trace.json (distgrad-run --timeline): the whole run records
