"""Margin and likelihood losses, as PyTorch's: triplet margin, Poisson and Gaussian NLL, hinge
embedding, soft margin, multi-label soft margin, multi-class margin and multi-label margin.

All but the soft margin are compositions of differentiable ops. The margins use relu, whose
gradient is 0 at 0, as PyTorch's kernels count a term only where it is positive; the soft
margin is a Function since PyTorch gives it its own gradient and none for the target.
"""
import functools
import math

import numpy

from ..amp import autocast_mode
from ..errors import OpIndexError, OpRuntimeError, OpTypeError, OpValueError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import binary_operands, may_read_values, nan_if_any, require_floating, unbroadcast
from .activation import relu
from .activation_more import logsigmoid
from .elementwise import clamp, exp, log, minimum, where
from .indexing import gather, masked_fill
from .loss import _check_reduction, _check_weight, legacy_reduction
from .losses_extra import _constant_weights, _quiet, _reduce
from .similarity import _broadcast_shape, pairwise_distance



def _float32_under_autocast(loss):
    """Under autocast the loss takes its floating tensors in float32, as PyTorch's autocast
    lists these losses (autocast_mode._LOSSES)."""
    @functools.wraps(loss)
    def wrapper(*args, **kwargs):
        if autocast_mode.active:
            args = autocast_mode.to_float32(loss.__name__, *args)
            names = list(kwargs)
            kwargs = dict(zip(names, autocast_mode.to_float32(loss.__name__, *kwargs.values())))
        return loss(*args, **kwargs)
    return wrapper


def _reduction(size_average, reduce, reduction, op):
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    return reduction


def _constant(like, array):
    """A constant tensor (no gradient) next to ``like``."""
    return like._wrap(array)


def _poisoned(loss, poison):
    """The loss (and so its gradients) NaN where a device-side index check failed: see
    out_of_range_poison. ``poison`` is None where the indices were checked on the host."""
    return loss if poison is None else loss * _constant(loss, 1 + poison)


@_float32_under_autocast
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    op = "triplet_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    if margin <= 0:
        raise OpValueError(op, f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise OpRuntimeError(op, f"anchor, positive and negative must have the same number of dimensions, got "
                                 f"shapes {tuple(anchor.shape)}, {tuple(positive.shape)} and "
                                 f"{tuple(negative.shape)}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:  # the harder of the two negatives' distances
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp(margin + d_pos - d_neg, min=0), reduction)


def _check_broadcast(input, target, op):
    if isinstance(target, TensorBase):
        _broadcast_shape(input, target, op)


@_float32_under_autocast
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    op = "poisson_nll_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _check_broadcast(input, target, op)
    loss = exp(input) - target * input if log_input else input - target * log(input + eps)
    if full:  # Stirling's approximation of log(target!), counted where target > 1
        with _quiet(input.xp):  # log(0), masked below
            stirling = target * log(target) - target + 0.5 * log(2 * math.pi * target)
        loss = loss + masked_fill(stirling, target <= 1, 0)
    return _reduce(loss, reduction)


def _homoscedastic_var(var, input, op):
    """``var`` shaped to broadcast against ``input``: its own shape, the input's without the
    last dimension (one variance per row), or the input's with exactly one dimension of 1."""
    shape, vshape = tuple(input.shape), tuple(var.shape)
    if vshape == shape:
        return var
    if vshape == shape[:-1]:
        return var.unsqueeze(-1)
    if len(vshape) == len(shape) and sum(v for s, v in zip(shape, vshape) if s != v) == 1:
        return var
    raise OpValueError(op, f"var of shape {vshape} is of incorrect size for input of shape {shape}: it must have "
                           "the input's shape, that shape without the last dimension, or one dimension of 1")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    op = "gaussian_nll_loss"
    if isinstance(var, (int, float)):
        if var < 0:
            raise OpValueError(op, f"var must be non-negative, got {var}")
        var = _constant(input, input.xp.full(input.array.shape, var, dtype=input.array.dtype))
    elif may_read_values(var.array) and var.array.size and bool((var.array < 0).any()):
        raise OpValueError(op, "var has negative entries")
    var = _homoscedastic_var(var, input, op)
    _check_reduction(reduction, op)
    # clamped for stability outside the graph, as PyTorch's: the gradient reaches var unclamped
    floor = var.detach()
    var = var + (clamp(floor, min=eps) - floor)
    loss = 0.5 * (log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@_float32_under_autocast
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    op = "hinge_embedding_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _check_broadcast(input, target, op)
    # PyTorch's: the hinge where the target is not 1, the input itself where it is not -1
    loss = where(target != 1, clamp(margin - input, min=0), 0.0) + where(target != -1, input, 0.0)
    return _reduce(loss, reduction)


class _SoftMargin(Function):
    """Elementwise log(1 + exp(-t x)), computed without overflow (PyTorch's overflows to inf
    past t x < -709), with PyTorch's gradient -t sigmoid(-t x) and none for the target."""
    saves_inputs = True

    def forward(self, xp, x, t):
        z = -t * x
        self.saved, self.shape = (x, t), x.shape
        return xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0)

    def backward(self, xp, g):
        x, t = self.saved
        with _quiet(xp):  # exp overflows to inf far out, where the sigmoid is 0 or 1
            sig = 1 / (1 + xp.exp(t * x))  # sigmoid(-t x)
        return unbroadcast(-t * sig * g, self.shape), None


@_float32_under_autocast
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    op = "soft_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _constant_weights(op, target=target)
    _check_broadcast(input, target, op)
    return _reduce(_SoftMargin.apply(*binary_operands(input, target)), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    op = "multilabel_soft_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    if input.ndim == 0:
        raise OpIndexError(op, "the input needs a class dimension, got a 0-d tensor")
    _check_broadcast(input, target, op)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.sum(-1) / input.shape[-1], reduction)  # the mean over the classes, per sample


def _as_matrix(input, op):
    """A 0-d, (C,) or (N, C) floating input as (N, C), with C > 0."""
    require_floating(op, input)
    if input.ndim > 2 or (input.ndim == 2 and input.shape[1] == 0) or (input.ndim == 1 and input.shape[0] == 0):
        raise OpRuntimeError(op, f"expected a non-empty vector, or a matrix with optional 0-dim batch size, got "
                                 f"shape {tuple(input.shape)}")
    return input.reshape(1, 1) if input.ndim == 0 else input.unsqueeze(0) if input.ndim == 1 else input


def _int64_target(target, op):
    if not isinstance(target, TensorBase):
        raise OpTypeError(op, f"target must be a Tensor, got {type(target).__name__}")
    if target.array.dtype != numpy.int64:
        raise OpRuntimeError(op, f"expected int64 class-index targets, got dtype {target.array.dtype}; convert "
                                 "them with .long()")


def _range_poison(t, low, n_classes, input, op):
    """Checks that the class indices ``t`` lie in [low, n_classes) on the host, or (on a GPU,
    unread) returns their poison."""
    if not t.size:
        return None
    if not may_read_values(t):
        return nan_if_any(input.xp, input.array.dtype, (t < low) | (t >= n_classes))
    if int(t.min()) < low or int(t.max()) >= n_classes:
        raise OpIndexError(op, f"target out of range: class indices must lie in [{low}, {n_classes}) for input "
                               f"of shape {tuple(input.shape)}")
    return None


@_float32_under_autocast
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    op = "multi_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    if p not in (1, 2):
        raise OpValueError(op, f"only p == 1 and p == 2 are supported, got {p}")
    if weight is not None and weight.ndim != 1:
        raise OpValueError(op, f"weight must be one-dimensional, got shape {tuple(weight.shape)}")
    x = _as_matrix(input, op)
    n, c = x.shape
    _int64_target(target, op)
    if target.ndim > 1 or target.numel() != n:
        raise OpRuntimeError(op, f"target must be 1-D with one class index per sample ({n}), got shape "
                                 f"{tuple(target.shape)} for input of shape {tuple(input.shape)}")
    _constant_weights(op, weight=weight)
    w = _check_weight(weight, c, input, op)
    t = target.array.reshape(n)
    poison = _range_poison(t, 0, c, input, op)
    if poison is not None:
        t = input.xp.clip(t, 0, c - 1)
    # each sample's hinge against every other class: margin - x[target] + x[j], where positive
    z = relu(margin - gather(x, 1, _constant(target, t[:, None])) + x)
    if p == 2:
        z = z * z
    others = _constant(x, t[:, None] != input.xp.arange(c))
    loss = where(others, z, 0.0).sum(1) / c
    if w is not None:
        loss = loss * _constant(x, w[t])
    return _reduce(_poisoned(loss, poison).reshape(tuple(target.shape)), reduction)


def _target_counts(xp, t, n_classes):
    """(N, C): how often each class appears in each row's target list (the indices before the
    first -1; PyTorch's kernel counts a repeated one as often as it appears)."""
    listed = xp.cumprod(t >= 0, axis=1).astype(bool)  # positions before the first -1
    one_hot = (t[:, :, None] == xp.arange(n_classes)) & listed[:, :, None]
    return one_hot.sum(axis=1)


@_float32_under_autocast
def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    op = "multilabel_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    x = _as_matrix(input, op)
    n, c = x.shape
    _int64_target(target, op)
    if tuple(target.shape) != tuple(input.shape):
        raise OpRuntimeError(op, f"target of shape {tuple(target.shape)} must have the input's shape "
                                 f"{tuple(input.shape)}")
    xp = input.xp
    t = target.array.reshape(n, c)
    poison = _range_poison(t, -1, c, input, op)
    if poison is not None:
        t = xp.clip(t, -1, c - 1)
    counts = _target_counts(xp, t, c)
    # pairs (target class j, non-target class k): the hinge 1 - x[j] + x[k], where positive
    pairs = counts[:, :, None] * (counts == 0)[:, None, :]
    hinge = relu(1 - x.unsqueeze(2) + x.unsqueeze(1))
    loss = (hinge * _constant(x, pairs.astype(x.array.dtype))).sum((1, 2)) / c
    return _reduce(_poisoned(loss, poison).reshape(tuple(input.shape[:-1]) if input.ndim == 2 else ()), reduction)
