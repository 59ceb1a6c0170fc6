"""torch.autograd's anomaly mode: detect_anomaly() and set_detect_anomaly(mode).

While it is on (with check_nan), every backward step's gradients are checked, and a NaN raises
RuntimeError naming the node, as PyTorch's does. The check rides on the engine's per-node
hook (engine.backward_timer), calling on to a profiler's timer installed before it; a profiler
started inside the block replaces the check until it stops. Forward stack traces are not kept.
"""
import threading

from ..backend import get_array_module
from . import engine

_mode = threading.local()  # per thread, as PyTorch's


def is_anomaly_enabled():
    return getattr(_mode, "enabled", False)


def is_anomaly_check_nan_enabled():
    return getattr(_mode, "check_nan", True)


def _checked_backward(fn, grad, inner=None):
    """``fn``'s input gradients (through ``inner``, a timer installed before), checked for NaN."""
    grads = inner(fn, grad) if inner is not None else fn.backward(get_array_module(grad), grad)
    if is_anomaly_enabled() and is_anomaly_check_nan_enabled():
        for i, g in enumerate(grads if isinstance(grads, tuple) else (grads,)):
            if g is not None and g.dtype.kind in "fc" and bool(get_array_module(g).isnan(g).any()):
                raise RuntimeError(f"Function '{fn.name}Backward' returned nan values in its {i}th output.")
    return grads


def _set(enabled, check_nan):
    previous = (is_anomaly_enabled(), is_anomaly_check_nan_enabled())
    _mode.enabled, _mode.check_nan = bool(enabled), bool(check_nan)
    installed = getattr(engine.backward_timer, "anomaly_check", False)
    if enabled and check_nan and not installed:
        inner = engine.backward_timer

        def check(fn, grad):
            return _checked_backward(fn, grad, inner)
        check.anomaly_check, check.inner = True, inner
        engine.backward_timer = check
    elif not (enabled and check_nan) and installed:
        engine.backward_timer = engine.backward_timer.inner
    return previous


class set_detect_anomaly:
    """Anomaly mode on or off: at once when called, and back to the previous mode on leaving
    a ``with`` block."""

    def __init__(self, mode, check_nan=True):
        self._previous = _set(mode, check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(*self._previous)
        return False


class detect_anomaly:
    """Anomaly mode on inside a ``with`` block (or around a decorated function)."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._previous = _set(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        _set(*self._previous)
        return False

    def __call__(self, fn):
        def wrapped(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
        return wrapped
