"""Where the time goes, with PyTorch's ``torch.profiler`` shape: ``profile``,
``record_function``, ``schedule``, ``key_averages().table()``, ``export_chrome_trace`` and
``tensorboard_trace_handler``. Ops are timed only while a profile records (see hooks.py)."""
from .averages import EventList, FunctionEventAvg
from .profile import ProfilerActivity, profile, record_function, supported_activities
from .schedule import ProfilerAction, schedule
from .trace import tensorboard_trace_handler

__all__ = ["EventList", "FunctionEventAvg", "ProfilerAction", "ProfilerActivity", "profile",
           "record_function", "schedule", "supported_activities", "tensorboard_trace_handler"]
