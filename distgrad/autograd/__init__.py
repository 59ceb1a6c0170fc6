"""distgrad.autograd: backward, grad, gradcheck, graph, custom Functions and the legacy Variable."""
import threading

from ..function import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .custom_function import Function, FunctionCtx, once_differentiable
from . import function  # noqa: F401  (torch.autograd.function's place)
from .engine import run_backward
from .gradcheck import gradcheck
from .graph import graph


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False, inputs=None):
    tensors = [tensors] if not isinstance(tensors, (list, tuple)) else list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif not isinstance(grad_tensors, (list, tuple)):
        grad_tensors = [grad_tensors]
    run_backward(tensors, list(grad_tensors), retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, create_graph=False,
         allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``."""
    outputs = [outputs] if not isinstance(outputs, (list, tuple)) else list(outputs)
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    return run_backward(outputs, list(grad_outputs), retain_graph=retain_graph,
                        create_graph=create_graph, inputs=inputs, accumulate=False,
                        allow_unused=allow_unused)


class inference_mode(no_grad):
    """PyTorch's inference_mode: here no_grad (distgrad has no separate inference tensors).
    A context manager and a decorator, bare (``@inference_mode``) or called; ``mode=False``
    leaves the grad mode as it is."""

    def __new__(cls, mode=True):
        if callable(mode):  # used bare as a decorator: mode is the function
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.inference = bool(mode)

    def __enter__(self):
        self._prev_inference = _inference.enabled
        _inference.enabled = self.inference
        if self.inference:
            super().__enter__()
        else:
            self._prev = is_grad_enabled()

    def __exit__(self, *exc):
        _inference.enabled = self._prev_inference
        super().__exit__(*exc)

    def _clone(self):
        return self.__class__(self.inference)


_inference = threading.local()  # per thread, as the grad mode
_inference.enabled = False


def is_inference_mode_enabled():
    """True inside an ``inference_mode()`` block (not inside ``inference_mode(False)``)."""
    return getattr(_inference, "enabled", False)


from .anomaly import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly  # noqa: E402


def Variable(data, requires_grad=False):
    """Legacy alias: returns a Tensor."""
    # At call time: tensor.py imports this package (Tensor.backward runs its engine).
    from ..tensor import Tensor
    if isinstance(data, Tensor):
        t = data.detach()
        return t.requires_grad_(requires_grad) if requires_grad else t
    return Tensor(data, requires_grad=requires_grad)


__all__ = ["Function", "FunctionCtx", "once_differentiable", "backward", "grad", "gradcheck", "graph",
           "Variable", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]
