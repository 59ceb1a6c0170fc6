"""NAdam: Adam with Nesterov momentum and a momentum schedule; RAdam: Adam whose adaptive
step is rectified (plain momentum SGD while the second moment's variance is untractable)."""
import numpy

from ..backend import get_array_module
from ..creation import zeros_like
from ._arrays import add_ratio_, const
from ._checks import check_hyperparameters
from .adam import adam_moments
from .optimizer import Optimizer


def nadam_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    grad, step = adam_moments(xp, param, grad, state, group, scratch)
    lr, (beta1, beta2), decay = group["lr"], group["betas"], group["momentum_decay"]
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
    # PyTorch keeps the product of the mus in a float32 tensor, multiplied in float32: round as it does
    mu_product = state["mu_product"] = float(numpy.float32(state["mu_product"]) * numpy.float32(mu))
    denom, tmp = scratch.denom, scratch.tmp
    xp.divide(state["exp_avg_sq"].array, const(xp, 1 - beta2 ** step, denom.dtype), denom)
    xp.sqrt(denom, denom)
    xp.add(denom, const(xp, group["eps"], denom.dtype), denom)
    add_ratio_(xp, param, grad, denom, -lr * (1.0 - mu) / (1.0 - mu_product), tmp)
    add_ratio_(xp, param, state["exp_avg"].array, denom, -lr * mu_next / (1.0 - mu_product * mu_next), tmp)


def radam_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    _, step = adam_moments(xp, param, grad, state, group, scratch)
    lr, (beta1, beta2) = group["lr"], group["betas"]
    correction2 = 1 - beta2 ** step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / correction2
    step_, denom = scratch.tmp, scratch.denom
    xp.divide(state["exp_avg"].array, const(xp, 1 - beta1 ** step, step_.dtype), step_)
    xp.multiply(step_, const(xp, lr, step_.dtype), step_)
    if rho_t > 5.0:  # the adaptive step, rectified
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        xp.sqrt(state["exp_avg_sq"].array, denom)
        xp.add(denom, const(xp, group["eps"], denom.dtype), denom)
        xp.divide(const(xp, correction2 ** 0.5, denom.dtype), denom, denom)
        xp.multiply(step_, denom, step_)
        xp.multiply(step_, const(xp, rect, step_.dtype), step_)
    xp.subtract(param, step_, param)


class _AdamVariant(Optimizer):
    def __init__(self, params, lr, betas, eps, weight_decay, decoupled_weight_decay, maximize, **extra):
        check_hyperparameters(lr=lr, eps=eps, weight_decay=weight_decay, betas=betas, **extra)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, **extra))

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["exp_avg"] = zeros_like(param)
        state["exp_avg_sq"] = zeros_like(param)


class NAdam(_AdamVariant):
    _update = staticmethod(nadam_update)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay, maximize,
                         momentum_decay=momentum_decay)

    def _init_state(self, param, state, group):
        super()._init_state(param, state, group)
        state["mu_product"] = 1.0


class RAdam(_AdamVariant):
    _update = staticmethod(radam_update)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay, maximize)
