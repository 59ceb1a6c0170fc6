"""Layer and batch normalization, each one fused node: normalize, scale and shift.

Both are ``y = (x - mean) / sqrt(var + eps) * weight + bias``; they differ only in which axes
the statistics are taken over and which axes the affine parameters span. When the statistics
come from ``x`` itself (layer norm, batch norm in training) the backward also runs through
them; with fixed running statistics (batch norm in evaluation) it does not.
"""
import math

from ..function import Function
from ._util import unbroadcast


class Normalize(Function):
    saves_inputs = True

    def forward(self, xp, x, *affine, mean, var, batch_stats, stat_axes, param_shape, has_weight, eps):
        rstd = 1 / xp.sqrt(var + eps)
        xhat = (x - mean) * rstd
        weight = affine[0].reshape(param_shape) if has_weight else None
        out = xhat if weight is None else xhat * weight
        if len(affine) > has_weight:
            out = out + affine[-1].reshape(param_shape)
        self.saved = (xhat, rstd, weight)
        self.batch_stats, self.stat_axes, self.param_shape = batch_stats, stat_axes, param_shape
        self.affine_shape = affine[0].shape if affine else None
        return out.astype(x.dtype, copy=False)

    def backward(self, xp, g):
        xhat, rstd, weight = self.saved
        needs = self.needs_grad
        grads = [None]
        if needs[0]:
            gxhat = g if weight is None else g * weight
            if self.batch_stats:  # mean and variance depend on x as well
                axes = self.stat_axes
                gxhat = (gxhat - gxhat.mean(axis=axes, keepdims=True)
                         - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True))
            grads[0] = gxhat * rstd
        if weight is not None:
            grads.append(self._param_grad(g * xhat) if needs[1] else None)
        if len(needs) > len(grads):
            grads.append(self._param_grad(g) if needs[-1] else None)
        return tuple(grads)

    def _param_grad(self, g):
        """Sum over every axis a (broadcast) affine parameter was shared along."""
        return unbroadcast(g, self.param_shape).reshape(self.affine_shape)


def _affine(weight, bias, shape, op):
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != math.prod(shape):
            raise RuntimeError(f"{op}: {name} of shape {tuple(t.shape)} does not match the normalized "
                               f"shape {tuple(shape)}")
    return tuple(t for t in (weight, bias) if t is not None)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise RuntimeError(f"layer_norm: input of shape {tuple(input.shape)} does not end with the "
                           f"normalized shape {shape}")
    x = input.array
    axes = tuple(range(input.ndim - k, input.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return Normalize.apply(input, *_affine(weight, bias, shape, "layer_norm"), mean=mean, var=var,
                           batch_stats=True, stat_axes=axes, param_shape=shape,
                           has_weight=weight is not None, eps=eps)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalize each channel (dim 1) of an (N, C, ...) input. In training, the batch's statistics
    are used and the running ones (when given) are updated in place; otherwise the running ones."""
    if input.ndim < 2:
        raise RuntimeError(f"batch_norm: expected an input of shape (N, C) or (N, C, ...), got "
                           f"{tuple(input.shape)}")
    c = input.shape[1]
    param_shape = (c,) + (1,) * (input.ndim - 2)
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"batch_norm: {name} of shape {tuple(t.shape)} does not match the {c} "
                               f"channels of the input of shape {tuple(input.shape)}")
    affine = _affine(weight, bias, (c,), "batch_norm")
    axes = (0,) + tuple(range(2, input.ndim))
    x = input.array
    if training:
        count = x.size // max(c, 1)
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got "
                             f"input of shape {tuple(input.shape)}")
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        _update_running(running_mean, mean, momentum)
        _update_running(running_var, var * (count / (count - 1)), momentum)  # unbiased, as PyTorch
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var are needed when training=False")
        mean = running_mean.array.reshape(param_shape)
        var = running_var.array.reshape(param_shape)
    return Normalize.apply(input, *affine, mean=mean, var=var, batch_stats=training, stat_axes=axes,
                           param_shape=param_shape, has_weight=weight is not None, eps=eps)


def _update_running(stat, batch_value, momentum):
    if stat is None:
        return
    array = stat.array
    array *= 1 - momentum
    array += momentum * batch_value.reshape(array.shape).astype(array.dtype, copy=False)
    stat._version[0] += 1
