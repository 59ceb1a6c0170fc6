"""Adamax: Adam with the infinity norm of past gradients as its divisor."""
from ..backend import get_array_module
from ..creation import zeros_like
from ._arrays import add_ratio_, const, effective_grad, lerp_, scale_
from ._checks import check_hyperparameters
from .optimizer import Optimizer


def adamax_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    (beta1, beta2), tmp = group["betas"], scratch.tmp
    grad = effective_grad(xp, param, grad, group["weight_decay"], group["maximize"], scratch.grad)
    step = state["step"] = state["step"] + 1
    exp_avg, exp_inf = state["exp_avg"].array, state["exp_inf"].array
    lerp_(xp, exp_avg, grad, 1 - beta1, tmp)
    scale_(xp, exp_inf, beta2)  # exp_inf = max(beta2 * exp_inf, |grad| + eps)
    xp.abs(grad, tmp)
    xp.add(tmp, const(xp, group["eps"], tmp.dtype), tmp)
    xp.maximum(exp_inf, tmp, out=exp_inf)
    add_ratio_(xp, param, exp_avg, exp_inf, -group["lr"] / (1 - beta1 ** step), tmp)


class Adamax(Optimizer):
    _update = staticmethod(adamax_update)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_hyperparameters(lr=lr, eps=eps, weight_decay=weight_decay, betas=betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["exp_avg"] = zeros_like(param)
        state["exp_inf"] = zeros_like(param)
