"""Losses: cross-entropy (fused log-softmax and NLL), NLL and mean squared error."""
import warnings

from ..amp import autocast_mode
from ..errors import OpIndexError, OpRuntimeError, OpTypeError, OpValueError
from ..function import Function
from ..tensor_base import TensorBase
from .activation import log_softmax
from ._util import (binary_operands, host_min_max, may_read_values, out_of_range_poison, require_floating,
                    unbroadcast)

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise OpValueError(op, f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _classes_first(xp, x):
    """(N, C, d1, ...) -> (C, N*d1*...): the class dimension first, as a 2-D array (a view
    for 2-D inputs). Reductions over the classes then run across whole rows, vectorized
    over the samples, instead of along many rows of C elements."""
    if x.ndim == 2:
        return x.T
    return x.swapaxes(0, 1).reshape(x.shape[1], -1)  # swapaxes: a C method, moveaxis is not


def _classes_back(xp, g2, shape):
    """The inverse of ``_classes_first``: (C, M) back to the input's (N, C, d1, ...) shape."""
    if len(shape) == 2:
        return g2.T
    return g2.reshape((shape[1], shape[0]) + tuple(shape[2:])).swapaxes(0, 1)


class CrossEntropy(Function):
    """Log-softmax and negative log-likelihood in one node: one pass forward, and the
    backward is softmax minus the (smoothed) one-hot target, with no intermediate graph.
    ``maybe_ignored=False`` says no target equals ``ignore_index`` (the caller checked the
    targets' range), which skips the per-sample masks: the common case costs a few passes."""
    saves_inputs = True

    def forward(self, xp, logits, target, weight=None, ignore_index=-100, reduction="mean",
                label_smoothing=0.0, maybe_ignored=True, unchecked=False):
        x = xp.ascontiguousarray(_classes_first(xp, logits))  # (C, M)
        t = target.reshape(-1)
        c, m = x.shape
        self.poison = out_of_range_poison(xp, t, c, x.dtype, ignore_index) if unchecked else None
        shifted = x - x.max(axis=0)
        exp = xp.exp(shifted)
        total = exp.sum(axis=0)
        lse = xp.log(total)  # log-probabilities are shifted - lse
        valid = None
        if maybe_ignored:
            valid = t != ignore_index
            t = xp.where(valid, t, 0)
        if unchecked:  # any index in range (CuPy would wrap one around): poison says it was bad
            t = xp.clip(t, 0, c - 1)
        if weight is not None:  # per-sample weights, None when every sample weighs 1
            w_row = weight[t] if valid is None else weight[t] * valid
        else:
            w_row = None if valid is None else valid.astype(x.dtype)
        # Each sample's target as one flat index into (C, M): single-index gathers and
        # scatters cost a fraction of two-index ones.
        picked = t * m + xp.arange(m)
        loss = lse - shifted.ravel()[picked]  # -log p(target)
        if label_smoothing:
            # sum over classes of wc * -log p = lse * sum(wc) - sum(wc * shifted), over C
            weighted = shifted.sum(axis=0) if weight is None else weight @ shifted
            smooth = (lse * (c if weight is None else weight.sum()) - weighted) / c
            if valid is not None:
                smooth *= valid
            loss = (1 - label_smoothing) * (loss if w_row is None else loss * w_row) + label_smoothing * smooth
        elif w_row is not None:
            loss *= w_row
        if valid is not None:  # an ignored sample adds 0, even where its logits are not finite
            loss = xp.where(valid, loss, 0)
        if self.poison is not None:
            loss = loss + self.poison
        if reduction == "none":
            out, denom = loss.reshape((logits.shape[0],) + tuple(logits.shape[2:])), None
        elif reduction == "sum":
            out, denom = loss.sum(), None
        else:
            denom = m if w_row is None else w_row.sum()
            out = loss.sum() / denom
        self.saved = (exp, total, picked, w_row, valid, denom, weight)
        self.shape, self.reduction, self.smoothing = logits.shape, reduction, label_smoothing
        return xp.asarray(out, dtype=logits.dtype)

    def backward(self, xp, g):
        exp, total, picked, w_row, valid, denom, weight = self.saved
        c = exp.shape[0]
        grad = exp / total  # softmax, (C, M)
        eps = self.smoothing
        if eps:
            # d/dx of (1-eps) w_t (-logp_t) + eps * sum_c wc (-logp_c) / C
            coeff = (1 - eps) * (1.0 if w_row is None else w_row)
            smooth_total = (eps / c) * (c if weight is None else weight.sum())
            if valid is not None:
                smooth_total = smooth_total * valid
            grad *= xp.asarray(coeff + smooth_total, dtype=grad.dtype)
            grad.ravel()[picked] -= coeff
            smooth = (eps / c) * (1.0 if weight is None else weight[:, None])
            grad -= smooth if valid is None else smooth * valid
        elif w_row is None:
            grad.ravel()[picked] -= 1
        else:
            grad *= w_row
            grad.ravel()[picked] -= w_row
        if self.reduction == "none":
            grad *= g.reshape(-1)
        else:
            grad *= g if denom is None else g / _nonzero(xp, denom)
        if self.poison is not None:
            grad += self.poison
        return _classes_back(xp, grad, self.shape), None


def _nonzero(xp, denom):
    """The mean's total weight, 1 where it is 0: every sample was ignored (or weighs 0), so
    every gradient is 0 (PyTorch's), where dividing by 0 would make it NaN."""
    if isinstance(denom, int):  # the sample count, with no weights: no array work on the hot path
        return denom or 1
    return xp.where(denom == 0, 1, denom)


class NllLoss(Function):
    def forward(self, xp, logp, target, weight=None, ignore_index=-100, reduction="mean", unchecked=False):
        x = _classes_first(xp, logp)
        t = target.reshape(-1)
        valid = t != ignore_index
        safe_t = xp.where(valid, t, 0)
        self.poison = None
        if unchecked:  # see CrossEntropy
            self.poison = out_of_range_poison(xp, t, x.shape[0], x.dtype, ignore_index)
            safe_t = xp.clip(safe_t, 0, x.shape[0] - 1)
        w_row = valid.astype(x.dtype) if weight is None else weight[safe_t] * valid
        cols = xp.arange(x.shape[1])
        loss = xp.where(valid, -x[safe_t, cols] * w_row, 0)  # 0 for an ignored sample, even at inf
        if self.poison is not None:
            loss = loss + self.poison
        denom = None
        if reduction == "none":
            out = loss.reshape((logp.shape[0],) + tuple(logp.shape[2:]))
        elif reduction == "sum":
            out = loss.sum()
        else:
            denom = w_row.sum()
            out = loss.sum() / denom
        self.saved = (safe_t, cols, w_row, denom, x.shape)
        self.shape, self.reduction = logp.shape, reduction
        return out.astype(logp.dtype)

    def backward(self, xp, g):
        t, cols, w_row, denom, shape2 = self.saved
        grad = xp.zeros(shape2, dtype=g.dtype)
        coeff = -w_row * (g.reshape(-1) if self.reduction == "none" else
                          (g if denom is None else g / _nonzero(xp, denom)))
        grad[t, cols] = coeff
        if self.poison is not None:
            grad += self.poison
        return _classes_back(xp, grad, self.shape), None


class MseLoss(Function):
    saves_inputs = True

    def forward(self, xp, input, target, reduction="mean"):
        diff = input - target
        self.saved, self.reduction = diff, reduction
        self.shapes = (input.shape, target.shape)
        sq = diff * diff
        if reduction == "none":
            return sq
        return sq.sum() if reduction == "sum" else sq.mean()

    def backward(self, xp, g):
        diff = self.saved
        scale = 2.0 if self.reduction != "mean" else 2.0 / diff.size if diff.size else float("nan")
        grad = diff * (g * scale)
        gi = unbroadcast(grad, self.shapes[0]) if self.needs_grad[0] else None
        gt = unbroadcast(-grad, self.shapes[1]) if self.needs_grad[1] else None
        return gi, gt


def _check_logits(input, op, floating=True):
    """The floating (N, C, ...) or (C,) input; returns the number of classes."""
    if floating:
        require_floating(op, input)
    if input.ndim == 0:
        raise OpIndexError(op, "the input needs a class dimension, got a 0-d tensor")
    return input.shape[1] if input.ndim >= 2 else input.shape[0]


def _check_weight(weight, n_classes, input, op):
    """Class weights: one per class, of the input's dtype (PyTorch does not convert them)."""
    if weight is None:
        return None
    if tuple(weight.shape) != (n_classes,):
        raise OpRuntimeError(op, f"weight must have one entry per class ({n_classes}), got shape "
                                 f"{tuple(weight.shape)}")
    if weight.array.dtype != input.array.dtype:
        raise OpRuntimeError(op, f"weight of dtype {weight.array.dtype} does not match the input's "
                                 f"{input.array.dtype}; convert it with .to({input.array.dtype})")
    return weight.array


def _check_targets(input, target, op):
    if not isinstance(target, TensorBase):
        raise OpTypeError(op, f"target must be a Tensor, got {type(target).__name__}")
    t, shape = target.array, input.array.shape
    if t.dtype.kind not in "iu":
        raise OpTypeError(op, f"expected class-index targets of an integer dtype (int64), got dtype "
                              f"{t.dtype}" + ("; class probabilities need a target of the input's shape"
                                              if op == "cross_entropy" else ""))
    expected = shape[:1] + shape[2:] if len(shape) >= 2 else ()
    if not shape or t.shape != expected:
        raise OpValueError(op, f"input of shape {tuple(shape)} needs a target of shape {expected}, "
                               f"got target of shape {tuple(t.shape)}")
    return shape[1] if len(shape) >= 2 else shape[0]


def _validated(input, target, ignore_index, op):
    """(input, target, whether a target may equal ignore_index, whether the targets went
    unchecked), after checking that every other target is a class index. On a GPU they are
    read back only under DISTGRAD_DEBUG=1 (a read stalls the step); unchecked, the op makes
    its loss and gradients NaN for a bad one (out_of_range_poison)."""
    n_classes = _check_targets(input, target, op)
    t = target.array
    maybe_ignored = unchecked = False
    if t.size and not may_read_values(t):
        maybe_ignored = unchecked = True  # the ignore mask and the range are left to the device
    elif t.size:
        low, high = host_min_max(t)  # two reductions instead of per-element masks, one sync
        maybe_ignored = low <= ignore_index <= high
        if low < 0 or high >= n_classes:
            bad = t[(t >= n_classes) | (t < 0)]
            bad = bad[bad != ignore_index]
            if bad.size:
                raise OpIndexError(op, f"target {int(bad[0])} is out of bounds for {n_classes} classes "
                                       f"(input shape {tuple(input.shape)})")
    if input.ndim == 1:  # a single sample
        return input.unsqueeze(0), target.reshape(1), maybe_ignored, unchecked
    return input, target, maybe_ignored, unchecked


def _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing, n_classes):
    """Cross-entropy against class probabilities (a floating target of the input's shape), as
    PyTorch's: -sum_c w_c p_c log_softmax(x)_c per sample, the mean taken over the samples."""
    if target.array.dtype.kind != "f":
        raise OpRuntimeError("cross_entropy", f"a target of the input's shape holds class probabilities and must "
                                              f"be floating, got dtype {target.array.dtype}")
    if ignore_index >= 0:
        raise OpRuntimeError("cross_entropy", f"ignore_index ({ignore_index}) is not supported for class "
                                              "probability targets")
    if weight is not None and tuple(weight.shape) != (n_classes,):
        _check_weight(weight, n_classes, input, "cross_entropy")  # raises, naming the shape
    class_dim = 1 if input.ndim >= 2 else 0
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    logp = log_softmax(input, class_dim)
    if weight is not None:
        logp = logp * weight.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1))
    loss = -(logp * target).sum(class_dim)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated size_average/reduce flags, mapped onto ``reduction`` (both None:
    ``reduction`` itself; each defaults to True once either is given). The losses keep them in
    PyTorch's positional order, so that a positional argument lands where PyTorch puts it."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    reduction = legacy_reduction(size_average, reduce, reduction)
    if autocast_mode.active:  # float32 under autocast
        input, target, weight = autocast_mode.to_float32("cross_entropy", input, target, weight)
    _check_reduction(reduction, "cross_entropy")
    probabilities = isinstance(target, TensorBase) and target.shape == input.shape
    # with probabilities, log_softmax checks the dtype (an empty integer input passes, as in PyTorch)
    n_classes = _check_logits(input, "cross_entropy", floating=not probabilities)
    if label_smoothing > 1.0:  # PyTorch accepts negative values, and smooths only with positive ones
        raise OpRuntimeError("cross_entropy", f"label_smoothing must be at most 1.0, got {label_smoothing}")
    if probabilities:
        return _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing,
                                            n_classes)
    weight = _check_weight(weight, n_classes, input, "cross_entropy")
    squeeze = input.ndim == 1
    input, target, maybe_ignored, unchecked = _validated(input, target, ignore_index, "cross_entropy")
    if input.is_cuda and weight is None and not label_smoothing:
        from ..cuda import fused_loss  # CuPy kernels; reached only with GPU tensors
        if fused_loss.supports(input):
            out = fused_loss.FusedCrossEntropy.apply(input, target, ignore_index=ignore_index, reduction=reduction)
            return out.reshape(()) if squeeze and reduction == "none" else out
    out = CrossEntropy.apply(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                             label_smoothing=max(float(label_smoothing), 0.0), maybe_ignored=maybe_ignored,
                             unchecked=unchecked)
    return out.reshape(()) if squeeze and reduction == "none" else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = legacy_reduction(size_average, reduce, reduction)
    if autocast_mode.active:  # float32 under autocast
        input, weight = autocast_mode.to_float32("nll_loss", input, weight)
    _check_reduction(reduction, "nll_loss")
    weight = _check_weight(weight, _check_logits(input, "nll_loss"), input, "nll_loss")
    squeeze = input.ndim == 1
    input, target, _, unchecked = _validated(input, target, ignore_index, "nll_loss")
    out = NllLoss.apply(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                        unchecked=unchecked)
    return out.reshape(()) if squeeze and reduction == "none" else out


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = legacy_reduction(size_average, reduce, reduction)
    if autocast_mode.active:  # float32 under autocast
        input, target = autocast_mode.to_float32("mse_loss", input, target)
    _check_reduction(reduction, "mse_loss")
    if input.shape != target.shape:
        warnings.warn(f"mse_loss: target shape {tuple(target.shape)} differs from input shape "
                      f"{tuple(input.shape)}; they will be broadcast", stacklevel=2)
    return MseLoss.apply(*binary_operands(input, target), reduction=reduction)
