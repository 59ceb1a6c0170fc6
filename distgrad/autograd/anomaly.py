"""torch.autograd's anomaly mode switches: detect_anomaly() and set_detect_anomaly(mode).

They record the mode so scripts that turn it on run unchanged, and is_anomaly_enabled() reports
it; distgrad's backward does not yet check gradients for NaN or keep forward stack traces.
"""
import threading

_mode = threading.local()  # per thread, as PyTorch's


def is_anomaly_enabled():
    return getattr(_mode, "enabled", False)


def is_anomaly_check_nan_enabled():
    return getattr(_mode, "check_nan", True)


def _set(enabled, check_nan):
    previous = (is_anomaly_enabled(), is_anomaly_check_nan_enabled())
    _mode.enabled, _mode.check_nan = bool(enabled), bool(check_nan)
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
