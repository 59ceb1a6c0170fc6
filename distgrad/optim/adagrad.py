"""Adagrad: per-element learning rates scaled by the accumulated squared gradients."""
from ..backend import get_array_module
from ..creation import full_like
from ._arrays import add_ratio_, add_square_, const, effective_grad
from .optimizer import Optimizer


def adagrad_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    grad = effective_grad(xp, param, grad, group["weight_decay"], group["maximize"], scratch.grad)
    step = state["step"] = state["step"] + 1
    clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
    total, tmp, std = state["sum"].array, scratch.tmp, scratch.denom
    add_square_(xp, total, grad, 1, tmp)
    xp.sqrt(total, std)
    xp.add(std, const(xp, group["eps"], std.dtype), std)
    add_ratio_(xp, param, grad, std, -clr, tmp)


class Adagrad(Optimizer):
    _update = staticmethod(adagrad_update)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        for name, value in (("learning rate", lr), ("lr_decay value", lr_decay),
                            ("weight_decay value", weight_decay),
                            ("initial_accumulator_value value", initial_accumulator_value),
                            ("epsilon value", eps)):
            if value < 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        # Like PyTorch, Adagrad's state exists from the start (it has a non-zero initial value).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state[p], group)

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["sum"] = full_like(param, group["initial_accumulator_value"])
