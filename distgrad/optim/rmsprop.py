"""RMSprop, optionally centered and with momentum."""
from ..backend import get_array_module
from ..creation import zeros_like
from ._arrays import add_ratio_, add_scaled_, add_square_, const, effective_grad, lerp_, scale_
from .optimizer import Optimizer


def rmsprop_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    alpha, momentum = group["alpha"], group["momentum"]
    grad = effective_grad(xp, param, grad, group["weight_decay"], group["maximize"], scratch.grad)
    state["step"] += 1
    square_avg, tmp, avg = state["square_avg"].array, scratch.tmp, scratch.denom
    scale_(xp, square_avg, alpha)
    add_square_(xp, square_avg, grad, 1 - alpha, tmp)
    if group["centered"]:
        grad_avg = state["grad_avg"].array
        lerp_(xp, grad_avg, grad, 1 - alpha, tmp)
        xp.negative(grad_avg, avg)  # avg = sqrt(square_avg - grad_avg ** 2)
        xp.multiply(avg, grad_avg, avg)
        xp.add(avg, square_avg, avg)
        xp.sqrt(avg, avg)
    else:
        xp.sqrt(square_avg, avg)
    xp.add(avg, const(xp, group["eps"], avg.dtype), avg)
    if momentum > 0:
        buf = state["momentum_buffer"].array
        scale_(xp, buf, momentum)
        add_ratio_(xp, buf, grad, avg, 1, tmp)
        add_scaled_(xp, param, buf, -group["lr"], tmp)
    else:
        add_ratio_(xp, param, grad, avg, -group["lr"], tmp)


class RMSprop(Optimizer):
    _update = staticmethod(rmsprop_update)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        for name, value in (("learning rate", lr), ("epsilon value", eps), ("momentum value", momentum),
                            ("weight_decay value", weight_decay), ("alpha value", alpha)):
            if value < 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["square_avg"] = zeros_like(param)
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = zeros_like(param)
