"""Adam and AdamW (decoupled weight decay), with AMSGrad."""
from ..backend import get_array_module
from ..creation import zeros_like
from ._arrays import add_ratio_, add_square_, const, effective_grad, fused_kernels, lerp_, scale_
from .optimizer import Optimizer


def adam_moments(xp, param, grad, state, group, scratch):
    """Weight decay (decoupled, or as an L2 gradient), then the two moment updates of Adam
    and its variants; returns (the effective gradient, the step number)."""
    lr, wd, (beta1, beta2), tmp = group["lr"], group["weight_decay"], group["betas"], scratch.tmp
    decoupled = group["decoupled_weight_decay"]
    if wd and decoupled:
        scale_(xp, param, 1 - lr * wd)
    grad = effective_grad(xp, param, grad, 0 if decoupled else wd, group["maximize"], scratch.grad)
    step = state["step"] = state["step"] + 1
    exp_avg, exp_avg_sq = state["exp_avg"].array, state["exp_avg_sq"].array
    lerp_(xp, exp_avg, grad, 1 - beta1, tmp)
    scale_(xp, exp_avg_sq, beta2)
    add_square_(xp, exp_avg_sq, grad, 1 - beta2, tmp)
    return grad, step


def adam_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    fused = fused_kernels(param, grad)
    if fused is not None:
        return fused.adam_(param, grad, state, group)
    lr, (beta1, beta2) = group["lr"], group["betas"]
    _, step = adam_moments(xp, param, grad, state, group, scratch)
    exp_avg, exp_avg_sq = state["exp_avg"].array, state["exp_avg_sq"].array
    tmp, denom = scratch.tmp, scratch.denom
    second = exp_avg_sq
    if group["amsgrad"]:
        second = state["max_exp_avg_sq"].array
        xp.maximum(second, exp_avg_sq, out=second)
    xp.sqrt(second, denom)  # denom = sqrt(second) / sqrt(bias_correction2) + eps
    xp.divide(denom, const(xp, (1 - beta2 ** step) ** 0.5, denom.dtype), denom)
    xp.add(denom, const(xp, group["eps"], denom.dtype), denom)
    add_ratio_(xp, param, exp_avg, denom, -lr / (1 - beta1 ** step), tmp)


class Adam(Optimizer):
    _update = staticmethod(adam_update)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["exp_avg"] = zeros_like(param)
        state["exp_avg_sq"] = zeros_like(param)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(param)


class AdamW(Adam):
    """Adam whose weight decay shrinks the parameters directly instead of adding to the gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
