"""ASGD: SGD with a decaying step size and a running average of the iterates (``ax``)."""
import numpy

from ..backend import get_array_module
from ..creation import zeros_like
from ._arrays import add_scaled_, const, effective_grad, scale_
from ._checks import check_hyperparameters
from .optimizer import Optimizer


def _as_float32(value):
    """``value`` rounded as PyTorch keeps ASGD's ``eta`` and ``mu``: 0-d float32 tensors."""
    return float(numpy.float32(value))


def asgd_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    lr, lambd = group["lr"], group["lambd"]
    grad = effective_grad(xp, param, grad, group["weight_decay"], group["maximize"], scratch.grad)
    step = state["step"] = state["step"] + 1
    eta, mu = _as_float32(state["eta"]), _as_float32(state["mu"])
    scale_(xp, param, 1 - lambd * eta)
    add_scaled_(xp, param, grad, -eta, scratch.tmp)
    ax = state["ax"].array
    if mu != 1:
        xp.subtract(param, ax, scratch.tmp)
        add_scaled_(xp, ax, scratch.tmp, mu, scratch.tmp)
    else:
        xp.copyto(ax, param)
    state["eta"] = _as_float32(lr / ((1 + lambd * lr * step) ** group["alpha"]))
    state["mu"] = _as_float32(1 / max(1, step - group["t0"]))


class ASGD(Optimizer):
    _update = staticmethod(asgd_update)

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        check_hyperparameters(lr=lr, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize))

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["eta"] = _as_float32(group["lr"])
        state["mu"] = 1.0
        state["ax"] = zeros_like(param)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for state in self.state.values():  # PyTorch's 0-d tensors: kept as Python numbers here, as on init
            for name in ("eta", "mu"):
                if name in state:
                    state[name] = _as_float32(state[name])
