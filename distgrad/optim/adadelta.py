"""Adadelta: steps scaled by the ratio of running RMS of updates and of gradients."""
from ..backend import get_array_module
from ..creation import zeros_like
from ._arrays import add_scaled_, add_square_, const, effective_grad, scale_
from ._checks import check_hyperparameters
from .optimizer import Optimizer


def adadelta_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    rho, eps = group["rho"], group["eps"]
    grad = effective_grad(xp, param, grad, group["weight_decay"], group["maximize"], scratch.grad)
    state["step"] += 1
    square_avg, acc_delta = state["square_avg"].array, state["acc_delta"].array
    std, delta = scratch.denom, scratch.tmp
    scale_(xp, square_avg, rho)
    add_square_(xp, square_avg, grad, 1 - rho, delta)
    xp.add(square_avg, const(xp, eps, std.dtype), std)
    xp.sqrt(std, std)
    xp.add(acc_delta, const(xp, eps, delta.dtype), delta)  # delta = sqrt(acc_delta + eps) / std * grad
    xp.sqrt(delta, delta)
    xp.divide(delta, std, delta)
    xp.multiply(delta, grad, delta)
    scale_(xp, acc_delta, rho)
    add_square_(xp, acc_delta, delta, 1 - rho, std)  # std is spent: its array is the product's scratch
    add_scaled_(xp, param, delta, -group["lr"], std)


class Adadelta(Optimizer):
    _update = staticmethod(adadelta_update)

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        check_hyperparameters(lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["square_avg"] = zeros_like(param)
        state["acc_delta"] = zeros_like(param)
