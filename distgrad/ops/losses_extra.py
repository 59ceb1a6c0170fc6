"""More losses, as PyTorch's: binary cross-entropy (on probabilities and on logits), L1,
smooth L1, Huber, KL divergence, cosine embedding and margin ranking.

The elementwise terms whose gradients PyTorch defines by its own formula (the clamped BCE,
the stable BCE on logits) are Functions; the rest, and every weighting and reduction, are
compositions of differentiable ops, so gradients reach weights and targets as in PyTorch.
"""
import warnings
from contextlib import nullcontext

import numpy

from ..amp import autocast_mode
from ..errors import OpRuntimeError, OpValueError
from ..function import Function
from ._util import binary_operands, cast, may_read_values, outside_unit_interval_poison, unbroadcast
from .elementwise import abs, clamp, exp, where
from .loss import _check_reduction, legacy_reduction


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _weighted(loss, weight, reduction):
    return _reduce(loss if weight is None else loss * weight, reduction)


def _constant_weights(op, **weights):
    """PyTorch's BCE losses are not differentiable in their weights, and say so."""
    for name, w in weights.items():
        if w is not None and w.requires_grad:
            raise OpRuntimeError(op, f"not differentiable with respect to {name}, which requires grad; "
                                     f"pass {name}.detach()")


def _in_dtype_of(tensor, like):
    """``tensor`` cast to ``like``'s dtype: PyTorch's BCE losses keep the dtype of their
    operands whatever the weights' dtype (a float64 weight leaves a float32 loss float32)."""
    if tensor is None or tensor.array.dtype == like.array.dtype:
        return tensor
    return cast(tensor, like.array.dtype)


def _same_shape(input, target, op, error=OpValueError):
    if tuple(target.shape) != tuple(input.shape):
        raise error(op, f"target of shape {tuple(target.shape)} must have the input's shape "
                        f"{tuple(input.shape)}")


def _same_size_weight(weight, input, op):
    """The elementwise weight of l1_loss and huber_loss, which must have the input's shape."""
    if tuple(weight.shape) != tuple(input.shape):
        raise OpValueError(op, f"weight of shape {tuple(weight.shape)} must have the input's shape "
                               f"{tuple(input.shape)}")
    return weight


def _broadcast_operands(input, target, op):
    """PyTorch's L1-type losses broadcast input and target to one shape first (warning when
    they differ), so a 0-d float64 target promotes a float32 input, unlike in plain ops."""
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"{op}: target shape {tuple(target.shape)} differs from input shape "
                      f"{tuple(input.shape)}; they will be broadcast", stacklevel=3)
    if input.array.dtype != target.array.dtype and input.array.dtype.kind == target.array.dtype.kind == "f":
        wide = numpy.promote_types(input.array.dtype, target.array.dtype)
        return tuple(t if t.array.dtype == wide else cast(t, wide) for t in (input, target))
    return binary_operands(input, target)


_EPS = float(numpy.float32(1e-12))  # PyTorch's epsilon of BCE and cosine embedding: a float32 constant


class BinaryCrossEntropy(Function):
    """Elementwise -(t log x + (1 - t) log(1 - x)), each log clamped at -100, with PyTorch's
    gradient (x - t) / max(x (1 - x), 1e-12)."""

    def forward(self, xp, x, t, unchecked=False):
        self.saved = (x, t)
        # values not checked on the host (a GPU without DISTGRAD_DEBUG): one outside [0, 1]
        # makes the loss and the gradients NaN, never a number
        self.poison = outside_unit_interval_poison(xp, x.dtype, x, t) if unchecked else None
        lo = xp.asarray(-100, dtype=x.dtype)
        with _quiet(xp):  # log(0) is -inf before the clamp
            out = (t - 1) * xp.maximum(xp.log1p(-x), lo) - t * xp.maximum(xp.log(x), lo)
        return out if self.poison is None else out + self.poison

    def backward(self, xp, g):
        x, t = self.saved
        gx = gt = None
        if self.needs_grad[0]:
            gx = g * (x - t) / xp.maximum((1 - x) * x, xp.asarray(_EPS, dtype=x.dtype))
        if self.needs_grad[1]:
            with _quiet(xp):
                gt = g * (xp.log1p(-x) - xp.log(x))  # -logit(x), unclamped as PyTorch's
        if self.poison is not None:
            gx, gt = (None if a is None else a + self.poison for a in (gx, gt))
        return gx, gt


class BinaryCrossEntropyWithLogits(Function):
    """Elementwise (1 - t) x + (1 + (p - 1) t) softplus(-x), p the positive weight (1 without)."""

    def forward(self, xp, x, t, pos_weight=None):
        sp = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)  # softplus(-x), without overflow
        self.saved = (x, t, pos_weight, sp)
        if pos_weight is None:
            return (1 - t) * x + sp
        return (1 - t) * x + (1 + (pos_weight - 1) * t) * sp

    def backward(self, xp, g):
        x, t, pw, sp = self.saved
        with _quiet(xp):  # exp(-x) overflows to inf for x < -709: the sigmoid is then 0, as it should be
            sig = 1 / (1 + xp.exp(-x))
        gx = gt = None
        if self.needs_grad[0]:
            gx = g * (sig - t) if pw is None else g * ((pw * t + 1 - t) * sig - pw * t)
        if self.needs_grad[1]:  # log_sigmoid(-x) - p log_sigmoid(x): each softplus stable, so finite or inf at x = -inf
            gt = g * -x if pw is None else \
                g * (pw * sp - (xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(x, 0)))
        return (gx, gt) if pw is None else (gx, gt, None)  # pos_weight: constant (checked by the caller)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    if autocast_mode.active:  # float32 under autocast
        input, target, weight = autocast_mode.to_float32("binary_cross_entropy", input, target, weight)
    op = "binary_cross_entropy"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _same_shape(input, target, op)
    _constant_weights(op, weight=weight)
    if input.array.dtype != target.array.dtype:
        raise OpRuntimeError(op, f"target of dtype {target.array.dtype} must have the input's dtype "
                                 f"{input.array.dtype}; convert it with .to({input.array.dtype})")
    checked = may_read_values(input.array)  # on a GPU only under DISTGRAD_DEBUG=1 (a sync)
    for name, a in (("input", input.array), ("target", target.array)):
        # NaN fails too, as in PyTorch
        if a.size and checked and not bool(((a >= 0) & (a <= 1)).all()):
            raise OpRuntimeError(op, f"all elements of {name} should be between 0 and 1"
                                     + ("; apply sigmoid first, or use binary_cross_entropy_with_logits"
                                        if name == "input" else ""))
    return _weighted(BinaryCrossEntropy.apply(input, target, unchecked=not checked and input.numel() > 0),
                     _in_dtype_of(weight, input), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    if autocast_mode.active:  # float32 under autocast
        input, target, weight, pos_weight = autocast_mode.to_float32("binary_cross_entropy_with_logits", input,
                                                                     target, weight, pos_weight)
    op = "binary_cross_entropy_with_logits"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _same_shape(input, target, op)
    _constant_weights(op, weight=weight, pos_weight=pos_weight)
    x, t = binary_operands(input, target)
    loss = (BinaryCrossEntropyWithLogits.apply(x, t) if pos_weight is None else
            BinaryCrossEntropyWithLogits.apply(x, t, _in_dtype_of(pos_weight, x)))
    loss = _in_dtype_of(loss, target)  # PyTorch's result takes the target's dtype
    return _weighted(loss, _in_dtype_of(weight, loss), reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if autocast_mode.active:  # float32 under autocast
        input, target, weight = autocast_mode.to_float32("l1_loss", input, target, weight)
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    input, target = _broadcast_operands(input, target, "l1_loss")
    if weight is None:
        return _reduce(abs(input - target), reduction)
    loss = abs(input - target) * _same_size_weight(weight, input, "l1_loss")
    return loss.sum() / weight.sum() if reduction == "mean" else _reduce(loss, reduction)  # PyTorch's weighted mean


class _Piecewise(Function):
    """Smooth L1 (``scaled``: the quadratic part over ``bound``) and Huber: quadratic inside
    |x - t| < bound, linear outside. The gradient is PyTorch's clipped difference, so an
    infinite difference gives a finite gradient."""

    def forward(self, xp, x, t, bound=1.0, scaled=True):
        d = x - t
        z = xp.abs(d)
        self.saved, self.bound, self.scaled, self.shapes = d, bound, scaled, (x.shape, t.shape)
        if scaled:
            return xp.where(z < bound, 0.5 * z * z / bound, z - 0.5 * bound)
        return xp.where(z < bound, 0.5 * z * z, bound * (z - 0.5 * bound))

    def backward(self, xp, g):
        grad = g * xp.clip(self.saved, -self.bound, self.bound)
        if self.scaled:
            grad = grad / self.bound
        gx = unbroadcast(grad, self.shapes[0]) if self.needs_grad[0] else None
        gt = unbroadcast(-grad, self.shapes[1]) if self.needs_grad[1] else None
        return gx, gt


def _piecewise(input, target, bound, scaled, op, reduction):
    _check_reduction(reduction, op)
    x, t = _broadcast_operands(input, target, op)
    return _reduce(_Piecewise.apply(x, t, bound=float(bound), scaled=scaled), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    if autocast_mode.active:  # float32 under autocast
        input, target = autocast_mode.to_float32("smooth_l1_loss", input, target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise OpRuntimeError("smooth_l1_loss", f"beta must be non-negative, got {beta}")
    if beta == 0:  # PyTorch's: the L1 loss
        _check_reduction(reduction, "smooth_l1_loss")
        return l1_loss(input, target, reduction=reduction)
    return _piecewise(input, target, beta, True, "smooth_l1_loss", reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    if autocast_mode.active:  # float32 under autocast
        input, target, weight = autocast_mode.to_float32("huber_loss", input, target, weight)
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise OpRuntimeError("huber_loss", f"delta must be positive, got {delta}")
    loss = _in_dtype_of(_piecewise(input, target, delta, False, "huber_loss", "none"), input)  # as PyTorch's
    if weight is None:
        return _reduce(loss, reduction)
    return _weighted(loss, _same_size_weight(weight, input, "huber_loss"), reduction)


class _XLogX(Function):
    """t log t, 0 at t = 0; its gradient log t + 1 as PyTorch's xlogy(t, t) (NaN at t = 0)."""

    def forward(self, xp, t):
        self.saved = t
        zero = xp.zeros((), dtype=t.dtype)
        with _quiet(xp):
            return xp.where(t == 0, zero, t * xp.log(t))

    def backward(self, xp, g):
        t = self.saved
        with _quiet(xp):
            return (g * (xp.where(t == 0, xp.zeros((), dtype=t.dtype), xp.log(t)) + t / t),)


def _quiet(xp):
    return xp.errstate(divide="ignore", invalid="ignore") if hasattr(xp, "errstate") else nullcontext()



def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if autocast_mode.active:  # float32 under autocast
        input, target = autocast_mode.to_float32("kl_div", input, target)
    op = "kl_div"
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise OpValueError(op, f"reduction must be one of ('mean', 'sum', 'none', 'batchmean'), got "
                               f"{reduction!r}")
    input, target = binary_operands(input, target)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        loss = _XLogX.apply(target) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim else total
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides by the number of elements, not the batch size; "
                      "use reduction='batchmean' for the KL divergence", stacklevel=2)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    op = "cosine_embedding_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if input1.ndim != input2.ndim or input1.ndim not in (1, 2):
        raise OpRuntimeError(op, f"inputs must both be 1-D or 2-D, got {input1.ndim}-D and {input2.ndim}-D")
    if target.ndim != input1.ndim - 1:
        raise OpRuntimeError(op, f"target must be {input1.ndim - 1}-D for {input1.ndim}-D inputs, got "
                                 f"{target.ndim}-D")
    dim = input1.ndim - 1
    eps = _EPS  # as PyTorch's, which adds its float32 1e-12 to both squared norms
    prod = (input1 * input2).sum(dim)
    mag = ((input1 * input1).sum(dim) + eps) * ((input2 * input2).sum(dim) + eps)
    cos = prod / mag.sqrt()
    loss = where(target == 1, 1 - cos, 0.0) + where(target == -1, clamp(cos - margin, min=0), 0.0)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    op = "margin_ranking_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise OpRuntimeError(op, f"all input tensors should have the same number of dimensions, got "
                                 f"{tuple(input1.shape)}, {tuple(input2.shape)} and {tuple(target.shape)}")
    return _reduce(clamp(-target * (input1 - input2) + margin, min=0), reduction)
