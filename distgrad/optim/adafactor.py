"""Adafactor (PyTorch 2.5+'s form): Adam-like steps without first moment, whose second moment
is kept factored (a row and a column average) for parameters of two or more dimensions, with
a relative step size (scaled by the parameter's RMS) and RMS clipping of the update."""
import numpy

from ..backend import get_array_module
from ..creation import zeros, zeros_like
from ._arrays import const, lerp_, scale_
from .optimizer import Optimizer


def _rms(xp, array):
    return float(xp.linalg.norm(array)) / array.size ** 0.5


def _mean_square_(xp, grad, axis, target, weight, tmp):
    """``target`` lerped towards ``(grad * grad).mean(axis)``, kept as a size-1 ``axis``."""
    xp.multiply(grad, grad, tmp)
    mean = xp.sum(tmp, axis=axis, keepdims=True)
    xp.divide(mean, const(xp, grad.shape[axis], mean.dtype), mean)
    lerp_(xp, target, mean, weight, xp.empty_like(mean))


def _factored_variance(xp, grad, state, weight, eps1, out, tmp):
    """``out`` = the outer product of the row and column averages over the rows' mean: the
    rank-1 estimate of the squared gradient's running average."""
    row_var, col_var = state["row_var"].array, state["col_var"].array
    _mean_square_(xp, grad, -1, row_var, weight, tmp)
    _mean_square_(xp, grad, -2, col_var, weight, tmp)
    xp.multiply(row_var, col_var, out)
    row_mean = xp.mean(row_var, axis=-2, keepdims=True)
    xp.maximum(row_mean, const(xp, eps1, row_mean.dtype), out=row_mean)
    xp.divide(out, row_mean, out)
    return out


def _full_variance(xp, grad, state, weight, out, tmp):
    variance = state["variance"].array
    xp.multiply(grad, grad, out)
    lerp_(xp, variance, out, weight, tmp)
    xp.copyto(out, variance)
    return out


def adafactor_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    lr, weight_decay = group["lr"], group["weight_decay"]
    eps1, eps2 = group["eps"]
    if eps1 is None:
        eps1 = float(numpy.finfo(param.dtype).eps)
    if group["maximize"]:
        grad = xp.negative(grad, scratch.grad)
    step = state["step"] = state["step"] + 1
    weight = step ** group["beta2_decay"]  # 1 - beta2 at this step
    alpha = max(eps2, _rms(xp, param)) * min(lr, 1 / step ** 0.5)
    if weight_decay != 0:
        scale_(xp, param, 1 - lr * weight_decay)
    update, tmp = scratch.denom, scratch.tmp
    if grad.ndim > 1:
        _factored_variance(xp, grad, state, weight, eps1, update, tmp)
    else:
        _full_variance(xp, grad, state, weight, update, tmp)
    xp.maximum(update, const(xp, eps1 * eps1, update.dtype), out=update)  # eps1 squared: the root keeps its scale
    xp.sqrt(update, update)
    xp.divide(grad, update, update)
    clip = max(1.0, _rms(xp, update) / group["d"])
    xp.multiply(update, const(xp, -alpha / clip, update.dtype), update)
    xp.add(param, update, param)


class Adafactor(Optimizer):
    _update = staticmethod(adafactor_update)

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        for message, valid in ((f"Learning rate should be >= 0 but is: {lr}", 0.0 <= lr),
                               (f"beta2_decay should be <= 0 but is: {beta2_decay}", 0.0 >= beta2_decay),
                               (f"epsilon1 should be >= 0 but is: {eps[0]}", eps[0] is None or 0.0 <= eps[0]),
                               (f"epsilon2 should be >= 0 but is: {eps[1]}", 0.0 <= eps[1]),
                               (f"Clipping threshold d should be >= 1 but is: {d}", 1.0 <= d),
                               (f"weight_decay should be >= 0 but is: {weight_decay}", 0.0 <= weight_decay)):
            if not valid:
                raise ValueError(message)
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d,
                                      weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, param, state, group):
        state["step"] = 0
        if param.ndim > 1:  # the second moment factored over the last two dimensions
            shape = param.shape
            state["row_var"] = zeros(*shape[:-1], 1, dtype=param.dtype, device=param.device)
            state["col_var"] = zeros(*shape[:-2], 1, shape[-1], dtype=param.dtype, device=param.device)
        else:
            state["variance"] = zeros_like(param)
