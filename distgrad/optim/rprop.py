"""Rprop: per-element step sizes grown while the gradient keeps its sign, shrunk when it flips."""
from ..backend import get_array_module
from ..creation import full_like, zeros_like
from ._checks import check_hyperparameters
from .optimizer import Optimizer


def rprop_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    etaminus, etaplus = group["etas"]
    step_size_min, step_size_max = group["step_sizes"]
    state["step"] += 1
    prev, step_size = state["prev"].array, state["step_size"].array
    if group["maximize"]:  # a copy either way: it is changed below and kept as ``prev``
        xp.negative(grad, scratch.grad)
    else:
        xp.copyto(scratch.grad, grad)
    grad = scratch.grad
    agreement, factor = scratch.denom, scratch.tmp
    xp.multiply(grad, prev, agreement)
    flipped = agreement < 0
    factor.fill(1)  # one of the two gradients was zero: the step size stays
    xp.copyto(factor, etaplus, where=agreement > 0)
    xp.copyto(factor, etaminus, where=flipped)
    xp.multiply(step_size, factor, step_size)
    xp.clip(step_size, step_size_min, step_size_max, out=step_size)
    xp.copyto(grad, 0, where=flipped)  # after a sign flip: no move now, and no flip seen next step
    xp.sign(grad, factor)
    xp.multiply(factor, step_size, factor)
    xp.subtract(param, factor, param)
    xp.copyto(prev, grad)


class Rprop(Optimizer):
    _update = staticmethod(rprop_update)

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        check_hyperparameters(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize))

    def _init_state(self, param, state, group):
        state["step"] = 0
        state["prev"] = zeros_like(param)
        state["step_size"] = full_like(param, group["lr"])
