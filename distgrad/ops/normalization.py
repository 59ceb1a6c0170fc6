"""Layer and batch normalization, each one fused node: normalize, scale and shift.

Both are ``y = (x - mean) / sqrt(var + eps) * weight + bias``; they differ in which axes the
statistics are taken over and which axes the affine parameters span. When the statistics
come from ``x`` itself (layer norm, batch norm in training) the backward also runs through
them; with fixed running statistics (batch norm in evaluation) it does not.

Batch norm's statistics and affine parameters are both per channel, so its node folds every
step into per-channel coefficients (a few passes over the activation, no full-size
temporary kept for the backward) and takes the per-channel sums as matrix products.
"""
import math

from ..amp import autocast_mode
from ..errors import OpRuntimeError, OpValueError
from ..function import Function
from ._util import require_floating, unbroadcast
from .linalg import column_sums


class LayerNorm(Function):
    """Normalization over the last axes, whose shape the affine parameters share."""
    saves_inputs = True

    def forward(self, xp, x, *affine, mean, var, stat_axes, param_shape, has_weight, eps):
        self.row_means = _row_mean_vector(xp, x, stat_axes) if mean is None else None
        if self.row_means is not None:  # trailing statistics axes: rows of a matrix
            xhat, rstd = _normalized_rows(xp, x, self.row_means, eps, len(stat_axes))
        else:
            xhat = x - (x.mean(axis=stat_axes, keepdims=True) if mean is None else mean)
            if var is None:  # from the centered input: no second pass for the mean, as x.var() makes
                square = xhat * xhat
                var = square.mean(axis=stat_axes, keepdims=True)
            rstd = 1 / xp.sqrt(var + eps)
            xhat *= rstd
        weight = affine[0].reshape(param_shape) if has_weight else None
        out = xhat if weight is None else xhat * weight
        if len(affine) > has_weight:
            bias = affine[-1].reshape(param_shape)
            out = out + bias if out is xhat else xp.add(out, bias, out=out)
        self.saved = (xhat, rstd, weight)
        self.stat_axes, self.param_shape = stat_axes, param_shape
        self.affine_shape = affine[0].shape if affine else None
        return out.astype(x.dtype, copy=False)

    def backward(self, xp, g):
        xhat, rstd, weight = self.saved
        needs = self.needs_grad
        grads = [None]
        if needs[0]:
            gxhat = g if weight is None else g * weight
            axes = self.stat_axes  # mean and variance depend on x as well
            spare = gxhat * xhat
            projection = self._mean(spare)
            gx = gxhat - self._mean(gxhat)  # a new array: g stays as it is
            gx -= xp.multiply(xhat, projection, out=spare)
            gx *= rstd
            grads[0] = gx
        if weight is not None:
            grads.append(self._param_grad(xp, g * xhat) if needs[1] else None)
        if len(needs) > len(grads):
            grads.append(self._param_grad(xp, g) if needs[-1] else None)
        return tuple(grads)

    def _mean(self, a):
        """``a``'s mean over the statistics axes, kept as size-1 axes."""
        if self.row_means is None:
            return a.mean(axis=self.stat_axes, keepdims=True)
        rows = a.reshape(-1, self.row_means.size) @ self.row_means
        return rows.reshape(a.shape[:a.ndim - len(self.stat_axes)] + (1,) * len(self.stat_axes))

    def _param_grad(self, xp, g):
        """Sum over every axis a (broadcast) affine parameter was shared along."""
        if self.row_means is not None:  # layer_norm's parameters span the rows: column sums
            return column_sums(xp, g.reshape(-1, self.row_means.size)).reshape(self.affine_shape)
        return unbroadcast(g, self.param_shape).reshape(self.affine_shape)


def _row_mean_vector(xp, x, stat_axes):
    """A vector of 1/m (m: the elements one statistic covers) when the statistics axes are
    the trailing ones of a float32/float64 input: then a mean over them is one matrix-vector
    product (BLAS), one pass without the temporaries and Python layers of ``mean()``. None
    otherwise (float16 has no BLAS product; empty normalized shapes have no mean)."""
    if x.dtype not in (xp.float32, xp.float64) or stat_axes != tuple(range(x.ndim - len(stat_axes), x.ndim)):
        return None
    m = math.prod(x.shape[x.ndim - len(stat_axes):])
    if not m:
        return None
    key = (xp.__name__, str(getattr(x, "device", "cpu")), m, x.dtype)
    vector = _row_mean_vectors.get(key)
    if vector is None:  # cached: a model asks for the same few sizes every step
        if len(_row_mean_vectors) > 64:
            _row_mean_vectors.clear()
        vector = _row_mean_vectors[key] = xp.full(m, 1 / m, dtype=x.dtype)
    return vector


_row_mean_vectors = {}


def _normalized_rows(xp, x, row_means, eps, k):
    """(x - mean) / sqrt(var + eps) over ``x``'s last ``k`` axes (rows of ``row_means.size``
    elements), and 1 / sqrt(var + eps) with k size-1 axes; the variance from the centered
    rows, so two passes over the input in all."""
    rows = x.reshape(-1, row_means.size)
    xhat = rows - (rows @ row_means)[:, None]
    var = (xhat * xhat) @ row_means
    var += eps
    rstd = xp.divide(1, xp.sqrt(var, out=var), out=var)
    xhat *= rstd[:, None]
    return xhat.reshape(x.shape), rstd.reshape(x.shape[:x.ndim - k] + (1,) * k)


def _affine(weight, bias, shape, op):
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != math.prod(shape):
            raise OpRuntimeError(op, f"{name} of shape {tuple(t.shape)} does not match the normalized "
                                     f"shape {tuple(shape)}")
    return tuple(t for t in (weight, bias) if t is not None)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if autocast_mode.active:  # float32 under CUDA autocast
        input, weight, bias = autocast_mode.to_float32("layer_norm", input, weight, bias)
    require_floating("layer_norm", input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise OpRuntimeError("layer_norm", f"input of shape {tuple(input.shape)} does not end with the "
                                           f"normalized shape {shape}")
    axes = tuple(range(input.ndim - k, input.ndim))
    return LayerNorm.apply(input, *_affine(weight, bias, shape, "layer_norm"), mean=None, var=None,
                           stat_axes=axes, param_shape=shape, has_weight=weight is not None, eps=eps)


class BatchNorm(Function):
    """Per-channel normalization of an (N, C, ...) input, viewed as (N, C, P). Saves only
    the input and two per-channel vectors; the backward recomputes ``x - mean``."""
    saves_inputs = True

    def forward(self, xp, x, *affine, running_mean, running_var, training, momentum, eps, has_weight, sync=None):
        n, c = x.shape[:2]
        x3 = _compute(xp, x).reshape(n, c, math.prod(x.shape[2:]))  # -1 fails for n = 0
        count = x3.shape[0] * x3.shape[2]
        self.sync = sync if training else None
        if training:
            mean = _channel_sums(xp, x3) / max(count, 1)  # an empty batch (SyncBatchNorm) gives zeros
            centered = x3 - mean[:, None]
            var = _channel_sums(xp, centered, centered) / max(count, 1)
            if sync is not None:  # SyncBatchNorm: the statistics of every rank's batch together
                local_mean = mean
                mean, var, count = sync.combine(xp, mean, var, count)
                centered += (local_mean - mean)[:, None]
            _update_running(running_mean, mean, momentum)
            _update_running(running_var, var * (count / (count - 1)), momentum)  # unbiased, as PyTorch
        else:
            mean, var = (_compute(xp, t.array).reshape(c) for t in (running_mean, running_var))
            centered = x3 - mean[:, None]
        rstd = 1 / xp.sqrt(var + eps)
        weight = _compute(xp, affine[0]).reshape(c) if has_weight else None
        out = centered  # a fresh temporary: scale and shift it in place
        out *= (rstd if weight is None else rstd * weight)[:, None]
        if len(affine) > has_weight:
            out += _compute(xp, affine[-1]).reshape(c, 1)
        self.saved = (x, mean, rstd, weight)
        self.affine_shapes, self.training, self.count = [a.shape for a in affine], training, count
        return out.reshape(x.shape).astype(x.dtype, copy=False)

    def backward(self, xp, g):
        x, mean, rstd, weight = self.saved
        n, c = x.shape[:2]
        g3 = _compute(xp, g).reshape(n, c, math.prod(x.shape[2:]))
        centered = _compute(xp, x).reshape(n, c, math.prod(x.shape[2:])) - mean[:, None]
        g_sum = _channel_sums(xp, g3)  # the bias's gradient
        g_xhat = _channel_sums(xp, g3, centered) * rstd  # the weight's gradient: sum(g * xhat)
        scale = rstd if weight is None else rstd * weight
        grads = [None]
        if self.needs_grad[0]:
            # gx = scale * (g - mean(g) - xhat * mean(g * xhat)) when the statistics come from x;
            # with synced statistics the means run over every rank's batch.
            gx = g3 * scale[:, None]
            if self.training:
                total_sum, total_xhat = (g_sum, g_xhat) if self.sync is None else self.sync.sum(xp, g_sum, g_xhat)
                centered *= (-scale * rstd * total_xhat / self.count)[:, None]
                gx += centered
                gx -= (scale * total_sum / self.count)[:, None]
            grads[0] = gx.reshape(x.shape).astype(x.dtype, copy=False)
        for total, needed, shape in zip((g_xhat, g_sum)[weight is None:], self.needs_grad[1:], self.affine_shapes):
            grads.append(total.reshape(shape).astype(x.dtype, copy=False) if needed else None)
        return tuple(grads)


def _compute(xp, a):
    """Half precision is computed in float32 (sums of many halves lose too much)."""
    return a.astype(xp.float32) if a.dtype.itemsize < 4 else a


def _channel_sums(xp, a, b=None):
    """Per-channel sums of ``a`` (or of ``a * b``) over an (N, C, P) array, as matrix products:
    BLAS dot products, several times faster than ``sum(axis=(0, 2))`` and no temporary."""
    if b is None:
        return (a @ xp.ones(a.shape[-1], dtype=a.dtype)).sum(axis=0)
    return (a[:, :, None, :] @ b[:, :, :, None]).sum(axis=0).reshape(a.shape[1])


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5, sync=None):
    """Normalize each channel (dim 1) of an (N, C, ...) input. In training, the batch's statistics
    are used and the running ones (when given) are updated in place; otherwise the running ones.
    ``sync`` (SyncBatchNorm): combines the statistics with other ranks' (``combine``) and sums
    the backward's per-channel totals across them (``sum``)."""
    require_floating("batch_norm", input)
    if input.ndim < 2:
        raise OpRuntimeError("batch_norm", f"expected an input of shape (N, C) or (N, C, ...), got "
                                           f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.numel() != c:
            raise OpRuntimeError("batch_norm", f"{name} of shape {tuple(t.shape)} does not match the {c} "
                                               f"channels of the input of shape {tuple(input.shape)}")
    affine = _affine(weight, bias, (c,), "batch_norm")
    if training and sync is None:  # with sync, the count over all ranks is checked (sync.combine)
        if input.numel() // max(c, 1) <= 1:
            raise OpValueError("batch_norm", f"expected more than 1 value per channel when training, got "
                                             f"input of shape {tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise OpRuntimeError("batch_norm", "running_mean and running_var are needed when training=False")
    return BatchNorm.apply(input, *affine, running_mean=running_mean,
                           running_var=running_var, training=training, momentum=momentum, eps=eps,
                           has_weight=weight is not None, sync=sync)


def _update_running(stat, batch_value, momentum):
    if stat is None:
        return
    array = stat.array
    array *= 1 - momentum
    array += momentum * batch_value.reshape(array.shape).astype(array.dtype, copy=False)
    stat._bump_version()


def _normalize_groups(input, groups, weight, bias, eps, op):
    """Normalize each of ``groups`` channel groups of every sample of an (N, C, ...) input
    (LayerNorm's node over an (N, G, C/G, rest) view), then scale and shift per channel."""
    n, c = input.shape[:2]
    x = input.reshape(n, groups, c // groups, -1)
    axes = (2, 3)
    mean = x.array.mean(axis=axes, keepdims=True)
    var = x.array.var(axis=axes, keepdims=True)
    out = LayerNorm.apply(x, *_affine(weight, bias, (c,), op), mean=mean, var=var, stat_axes=axes,
                          param_shape=(groups, c // groups, 1), has_weight=weight is not None, eps=eps)
    return out.reshape(input.shape), mean, var


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    if autocast_mode.active:  # float32 under CUDA autocast
        input, weight, bias = autocast_mode.to_float32("group_norm", input, weight, bias)
    require_floating("group_norm", input)
    if input.ndim < 2:
        raise OpRuntimeError("group_norm", f"expected an input of shape (N, C, ...), got {tuple(input.shape)}")
    if num_groups < 1 or input.shape[1] % num_groups:
        raise OpRuntimeError("group_norm", f"Expected number of channels in input to be divisible by num_groups, "
                                           f"but got input of shape {tuple(input.shape)} and num_groups="
                                           f"{num_groups}")
    if input.numel() == num_groups:  # one value per group, as PyTorch's check
        raise OpValueError("group_norm", f"Expected more than 1 value per channel when training, got input of "
                                         f"shape {tuple(input.shape)} with num_groups={num_groups}")
    return _normalize_groups(input, num_groups, weight, bias, eps, "group_norm")[0]


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each channel of each sample of an (N, C, ...) input over its own positions.
    With ``use_input_stats`` the running statistics (when given) move towards the batch's
    average instance mean and unbiased variance; otherwise they normalize, as batch_norm's."""
    require_floating("instance_norm", input)
    if input.ndim < 3:
        raise OpRuntimeError("instance_norm", f"expected an input of shape (N, C, L, ...), got "
                                              f"{tuple(input.shape)}")
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    out, mean, var = _normalize_groups(input, input.shape[1], weight, bias, eps, "instance_norm")
    count = input.numel() // max(input.shape[0] * input.shape[1], 1)
    if count <= 1:
        raise OpValueError("instance_norm", f"expected more than 1 spatial element when training, got input of "
                                            f"shape {tuple(input.shape)}")
    _update_running(running_mean, mean.mean(axis=0), momentum)
    _update_running(running_var, (var * (count / (count - 1))).mean(axis=0), momentum)
    return out
