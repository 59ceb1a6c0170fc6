"""Cumulative ops along one dim (cumsum, cumprod) and logsumexp."""
from ..function import Function
from ._util import normalize_dim
from .elementwise import _floating
from .reduction import _axes, _keep


def _reverse_cumsum(xp, g, axis):
    return xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis)


class Cumsum(Function):
    def forward(self, xp, x, axis):
        self.axis = axis
        return xp.cumsum(x, axis=axis)

    def backward(self, xp, g):
        return (_reverse_cumsum(xp, g, self.axis),)


class Cumprod(Function):
    saves_inputs = True
    saves_output = True

    def forward(self, xp, x, axis):
        self.axis = axis
        out = xp.cumprod(x, axis=axis)
        self.saved = (x, out)
        return out

    def backward(self, xp, g):
        x, out = self.saved
        axis = self.axis
        if x.shape[axis] == 1:  # out = x: the gradient passes unchanged, even at inf or NaN
            return (g,)
        zeros = x == 0
        if not zeros.any():
            return (_reverse_cumsum(xp, g * out, axis) / x,)
        # with zeros, as PyTorch's: before a slice's first zero, the quotient formula on the
        # outputs up to there; at the first zero k, prod_{l<k} x_l * sum_{k<=j<second zero} g_j
        # prod_{k<l<=j} x_l; after it, 0 (every product holds the zero)
        seen = xp.cumsum(zeros, axis=axis)
        before = seen == 0
        first = zeros & (seen == 1)
        ahead = _reverse_cumsum(xp, xp.where(before, g * out, 0), axis) / xp.where(before, x, 1)
        prefix = xp.cumprod(xp.where(before, x, 1), axis=axis)
        after = xp.cumprod(xp.where(before | first, 1, x), axis=axis)
        at_k = prefix * _reverse_cumsum(xp, xp.where(seen == 1, g * after, 0), axis)  # up to a second zero
        return (xp.where(before, ahead, xp.where(first, at_k, 0)),)


def _scan(cls, op, input, dim, dtype):
    if dtype is not None:
        input = input.to(dtype)
    elif input.array.dtype.kind in "bui":  # integer scans widen to int64, as PyTorch's
        input = input.long()
    axis = normalize_dim(dim, input.ndim, op)[0]
    if input.ndim == 0:
        return cls.apply(input.reshape(1), axis=0).reshape(())
    return cls.apply(input, axis=axis)


def cumsum(input, dim, dtype=None):
    return _scan(Cumsum, "cumsum", input, dim, dtype)


def cumprod(input, dim, dtype=None):
    return _scan(Cumprod, "cumprod", input, dim, dtype)


class Logsumexp(Function):
    saves_inputs = True
    saves_output = True

    def forward(self, xp, x, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim
        peak = x.max(axis=axes, keepdims=True) if x.size else xp.zeros((1,) * x.ndim, x.dtype)
        peak = xp.where(xp.isinf(peak), 0, peak)  # all -inf (or an inf) stays exact, as PyTorch's
        out = xp.log(xp.exp(x - peak).sum(axis=axes, keepdims=True)) + peak
        self.saved = (x, out)
        return out if keepdim else out.reshape(_reduced(x.shape, axes))

    def backward(self, xp, g):
        x, out = self.saved
        return (_keep(g, x.shape, self.axes, self.keepdim) * xp.exp(x - out),)


def _reduced(shape, axes):
    return () if axes is None else tuple(s for i, s in enumerate(shape) if i not in axes)


def logsumexp(input, dim, keepdim=False):
    input = _floating(input)
    return Logsumexp.apply(input, axes=_axes(input, dim, "logsumexp"), keepdim=keepdim)
