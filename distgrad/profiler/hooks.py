"""Switching op timing on and off. While a profile records, ``Function.apply`` is replaced by
a timed version and the backward engine is handed a timed call; when none records, the plain
``apply`` is back in place and the engine's only cost is one branch per node.
"""
from time import perf_counter_ns

from ..autograd import custom_function, engine
from ..backend import get_array_module
from ..function import Function, op_label

_plain = Function.__dict__["apply"]  # the classmethod itself, put back as it was
_plain_apply = _plain.__func__
_plain_custom_apply = custom_function._apply  # forward(ctx, ...) Functions (torch.autograd.Function style)
_recorder = None  # the Recorder of the profile recording now
_forward_names = {}


def current():
    """The Recorder recording now, or None."""
    return _recorder


def install(recorder, ops=True):
    """Record into ``recorder`` from now on; ``ops``: time every op too (a run's timeline
    records only coarser ranges unless asked)."""
    global _recorder
    if _recorder is not None:
        raise RuntimeError("a distgrad.profiler.profile is already recording; profiles cannot be nested")
    _recorder = recorder
    if not ops:
        return
    Function.apply = classmethod(_timed_apply)
    custom_function._apply = _timed_custom_apply
    engine.backward_timer = _timed_backward


def uninstall(recorder):
    global _recorder
    if _recorder is not recorder:
        return
    Function.apply = _plain
    custom_function._apply = _plain_custom_apply
    engine.backward_timer = None
    _recorder = None


def forward_name(cls):
    """``distgrad::relu``, as PyTorch's ``aten::relu``."""
    name = _forward_names.get(cls)
    if name is None:
        name = _forward_names[cls] = "distgrad::" + op_label(cls)
    return name


def backward_name(fn):
    """``ReluBackward``, as PyTorch's ``ReluBackward0``; custom Functions' nodes name themselves so."""
    name = fn.name
    return name if name.endswith("Backward") else name + "Backward"


def _timed_apply(cls, *tensors, **params):
    recorder = _recorder
    if recorder is None:  # stopped by another thread since this call looked the method up
        return _plain_apply(cls, *tensors, **params)
    if recorder.times_only:  # the common case (and a timeline's): no shapes, memory or CUDA times
        start = perf_counter_ns()
        try:
            return _plain_apply(cls, *tensors, **params)
        finally:
            recorder.end(_forward_names.get(cls) or forward_name(cls), "cpu_op", start)
    timer = recorder.device_timer
    device = timer.start(tensors[0].array) if timer is not None and tensors else None
    shapes = [list(t.shape) for t in tensors] if recorder.record_shapes else None
    out = None
    start = recorder.begin()
    try:
        out = _plain_apply(cls, *tensors, **params)
        return out
    finally:
        memory = out.array.nbytes if recorder.profile_memory and out is not None else 0
        recorder.end(forward_name(cls), "cpu_op", start, shapes, memory,
                     timer.stop(device) if device is not None else None)


def _timed_custom_apply(cls, *args):
    """A custom Function's forward, named by its class as PyTorch names it."""
    recorder = _recorder
    if recorder is None:
        return _plain_custom_apply(cls, *args)
    start = recorder.begin()
    try:
        return _plain_custom_apply(cls, *args)
    finally:
        recorder.end(cls.__name__, "cpu_op", start)


def _timed_backward(fn, grad):
    """``fn.backward`` on ``grad`` as the engine calls it, timed as one ``XBackward`` event."""
    recorder = _recorder
    xp = get_array_module(grad)
    if recorder is None:
        return fn.backward(xp, grad)
    if recorder.times_only:
        start = perf_counter_ns()
        try:
            return fn.backward(xp, grad)
        finally:
            recorder.end(backward_name(fn), "cpu_op", start)
    timer = recorder.device_timer
    device = timer.start(grad) if timer is not None else None
    shapes = [list(grad.shape)] if recorder.record_shapes else None
    grads = None
    start = recorder.begin()
    try:
        grads = fn.backward(xp, grad)
        return grads
    finally:
        memory = sum(g.nbytes for g in grads if g is not None) if recorder.profile_memory and grads else 0
        recorder.end(backward_name(fn), "cpu_op", start, shapes, memory,
                     timer.stop(device) if device is not None else None)
