"""Matrix-structure ops: tril, triu, diag, trace."""
import operator

from ..errors import OpRuntimeError, OpTypeError
from ..function import Function
from .reduction import sum as _sum


def _diagonal_arg(op, diagonal):
    try:
        return operator.index(diagonal)
    except TypeError:
        raise OpTypeError(op, f"diagonal must be an int, got {type(diagonal).__name__}; pass an int") from None


def _require_ndim(op, input, ndims, what):
    if input.ndim not in ndims:
        raise OpRuntimeError(op, f"expected {what}, got shape {tuple(input.shape)}")


class Triangle(Function):
    """tril (upper=False) or triu: the gradient keeps the same triangle."""

    def forward(self, xp, x, k, upper):
        self.k, self.upper = k, upper
        return (xp.triu if upper else xp.tril)(x, k)

    def backward(self, xp, g):
        return ((xp.triu if self.upper else xp.tril)(g, self.k),)


def _triangle(op, input, diagonal, upper):
    _require_ndim(op, input, range(2, 64), "a tensor of at least 2 dimensions")
    return Triangle.apply(input, k=_diagonal_arg(op, diagonal), upper=upper)


def tril(input, diagonal=0):
    return _triangle("tril", input, diagonal, False)


def triu(input, diagonal=0):
    return _triangle("triu", input, diagonal, True)


class Diag(Function):
    def forward(self, xp, x, k):
        self.k, self.in_shape = k, x.shape
        if x.ndim == 1:
            return xp.diag(x, k)
        return xp.diagonal(x, k).copy()

    def backward(self, xp, g):
        if len(self.in_shape) == 1:
            return (xp.diagonal(g, self.k).copy(),)
        out = xp.zeros(self.in_shape, dtype=g.dtype)
        r0, c0 = (0, self.k) if self.k >= 0 else (-self.k, 0)
        n = g.shape[0]
        out[xp.arange(r0, r0 + n), xp.arange(c0, c0 + n)] = g
        return (out,)


def diag(input, diagonal=0):
    _require_ndim("diag", input, (1, 2), "a 1-d or 2-d tensor")
    return Diag.apply(input, k=_diagonal_arg("diag", diagonal))


def trace(input):
    _require_ndim("trace", input, (2,), "a 2-d tensor")
    # a sum of the diagonal: integer and bool inputs sum to int64, as PyTorch's
    return _sum(diag(input))
