"""Cross-entropy on the GPU in two kernels: log-sum-exp and per-row losses forward, softmax
minus one-hot backward (kernels.py). ops/loss.py sends CuPy inputs here when there are no
class weights and no label smoothing; everything else takes the generic CrossEntropy."""
from ..function import Function
from . import kernels


def supports(input):
    return input.dtype in kernels.FUSED_DTYPES


def _classes_last(xp, x):
    """(N, C, d1, ...) -> (N*d1*..., C): the kernels take one row of C logits per sample."""
    return x if x.ndim == 2 else xp.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _classes_last_back(xp, g2, shape):
    """The inverse of ``_classes_last``."""
    if len(shape) == 2:
        return g2
    return xp.moveaxis(g2.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


class FusedCrossEntropy(Function):
    saves_inputs = True

    def forward(self, xp, logits, target, ignore_index=-100, reduction="mean"):
        x = xp.ascontiguousarray(_classes_last(xp, logits))
        t = xp.ascontiguousarray(target.reshape(-1), dtype=xp.int64)
        lse, stats = kernels.cross_entropy_forward(x, t, ignore_index)
        denom = None
        if reduction == "none":
            out = stats[0].reshape((logits.shape[0],) + tuple(logits.shape[2:]))
        else:
            sums = stats.sum(axis=1)  # loss total and counted rows, one reduction
            if reduction == "sum":
                out = sums[0]
            else:
                denom = sums[1]
                out = sums[0] / denom
        self.saved = (x, lse, t, denom)
        self.shape, self.reduction, self.ignore_index = logits.shape, reduction, ignore_index
        return out.astype(logits.dtype)

    def backward(self, xp, g):
        x, lse, t, denom = self.saved
        if self.reduction == "none":
            scale = g.reshape(-1)
        else:
            scale = (g if denom is None else g / denom).reshape(1)
        grad = kernels.cross_entropy_backward(x, lse, t, scale.astype(x.dtype, copy=False), self.ignore_index)
        return _classes_last_back(xp, grad, self.shape), None
