"""Reductions over dims: sum, mean, max/min (values and indices), var/std, argmax."""
import builtins
from collections import namedtuple

from ..errors import OpNotImplementedError, OpRuntimeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import normalize_dim
from .elementwise import abs as abs_, maximum, minimum, pow as pow_, sqrt

values_indices = namedtuple("values_indices", ["values", "indices"])


def _expand_back(xp, g, in_shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced axes."""
    if not keepdim and axes is not None:
        shape = list(in_shape)
        for a in axes:
            shape[a] = 1
        g = g.reshape(shape)
    return xp.broadcast_to(g, in_shape)


class Sum(Function):
    def forward(self, xp, x, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    def backward(self, xp, g):
        return (_expand_back(xp, g, self.in_shape, self.axes, self.keepdim),)


class Mean(Function):
    def forward(self, xp, x, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = x.shape, axes, keepdim
        self.count = x.size // builtins.max(1, _reduced_size(x.shape, axes, keepdim=True))
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, xp, g):
        return (_expand_back(xp, g / self.count, self.in_shape, self.axes, self.keepdim),)


def _reduced_size(shape, axes, keepdim):
    n = 1
    for i, s in enumerate(shape):
        if axes is not None and i not in axes:
            n *= s
    return n


class Extremum(Function):
    """max or min over all elements or over one dim; the gradient goes to the chosen element
    (shared equally between ties for a full reduction, as PyTorch)."""
    saves_inputs = True

    def forward(self, xp, x, dim, keepdim, largest):
        self.saved, self.dim, self.keepdim = x, dim, keepdim
        if dim is None:
            out = x.max() if largest else x.min()
            self.out = out
            return out
        index = x.argmax(axis=dim) if largest else x.argmin(axis=dim)
        self.index = xp.expand_dims(index, dim)
        out = xp.take_along_axis(x, self.index, axis=dim)
        return out if keepdim else out.squeeze(dim)

    def backward(self, xp, g):
        x = self.saved
        if self.dim is None:
            mask = x == self.out
            return (mask * (g / mask.sum()),)
        gx = xp.zeros(x.shape, dtype=g.dtype)
        gk = g if self.keepdim else xp.expand_dims(g, self.dim)
        xp.put_along_axis(gx, self.index, gk, axis=self.dim)
        return (gx,)


class Var(Function):
    saves_inputs = True

    def forward(self, xp, x, axes, keepdim, correction):
        self.saved = x
        self.axes, self.keepdim, self.correction = axes, keepdim, correction
        return x.var(axis=axes, ddof=correction, keepdims=keepdim)

    def backward(self, xp, g):
        x = self.saved
        n = x.size if self.axes is None else x.size // _reduced_size(x.shape, self.axes, True)
        centered = x - x.mean(axis=self.axes, keepdims=True)
        g = _expand_back(xp, g, x.shape, self.axes, self.keepdim)
        return (g * centered * (2.0 / builtins.max(n - self.correction, 1)),)


# ---------------------------------------------------------------- functional API

def _dims(input, dim, axis, op):
    return normalize_dim(axis if dim is None else dim, input.ndim, op)


def sum(input, dim=None, keepdim=False, dtype=None, axis=None):
    if dtype is not None:
        input = input.to(dtype)
    elif input.array.dtype.kind in "bui":  # integer sums widen to int64, as in PyTorch
        input = input.long()
    return Sum.apply(input, axes=_dims(input, dim, axis, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False, dtype=None, axis=None):
    if dtype is not None:
        input = input.to(dtype)
    if input.array.dtype.kind != "f":
        raise OpRuntimeError("mean", f"could not infer output dtype; input dtype {input.array.dtype} "
                                     "must be floating point (use .float() first)")
    return Mean.apply(input, axes=_dims(input, dim, axis, "mean"), keepdim=keepdim)


def _extremum(input, dim, keepdim, largest, op):
    if isinstance(dim, TensorBase):  # torch.max(a, b) is the elementwise maximum
        return (maximum if largest else minimum)(input, dim)
    if input.array.size == 0:
        raise OpRuntimeError(op, f"expected a non-empty tensor, got shape {tuple(input.shape)}")
    if dim is None:
        return Extremum.apply(input, dim=None, keepdim=False, largest=largest)
    axis = normalize_dim(dim, input.ndim, op)[0]
    xp = input.xp
    if input.ndim == 0:  # as PyTorch: a 0-d tensor is its own extremum, at index 0
        return values_indices(Extremum.apply(input, dim=None, keepdim=False, largest=largest),
                              input._wrap(xp.zeros((), xp.int64)))
    values = Extremum.apply(input, dim=axis, keepdim=keepdim, largest=largest)
    index = input.array.argmax(axis=axis) if largest else input.array.argmin(axis=axis)
    if keepdim:
        index = xp.expand_dims(index, axis)
    return values_indices(values, input._wrap(index.astype(xp.int64)))


def max(input, dim=None, keepdim=False):
    return _extremum(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):
    return _extremum(input, dim, keepdim, False, "min")


def amax(input, dim=None, keepdim=False):
    out = max(input, dim, keepdim)
    return out if dim is None else out.values


def amin(input, dim=None, keepdim=False):
    out = min(input, dim, keepdim)
    return out if dim is None else out.values


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    if correction is None:
        correction = 0 if unbiased is False else 1
    return Var.apply(input, axes=_dims(input, dim, None, "var"), keepdim=keepdim, correction=correction)


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return sqrt(var(input, dim, unbiased, keepdim, correction))


def argmax(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, False)


def _arg(input, dim, keepdim, largest):
    a, op = input.array, "argmax" if largest else "argmin"
    if a.size == 0:
        raise OpRuntimeError(op, f"expected a non-empty tensor, got shape {tuple(input.shape)}")
    if dim is None:
        return input._wrap(input.xp.asarray((a.argmax() if largest else a.argmin())).astype("int64"))
    axis = normalize_dim(dim, input.ndim, op)[0]
    if input.ndim == 0:  # as PyTorch: a 0-d tensor's one element is at index 0
        return input._wrap(input.xp.zeros((), "int64"))
    index = a.argmax(axis=axis) if largest else a.argmin(axis=axis)
    if keepdim:
        index = input.xp.expand_dims(index, axis)
    return input._wrap(index.astype("int64"))


def prod(input, dim=None, keepdim=False):
    if input.requires_grad:
        raise OpNotImplementedError("prod", "backward is not implemented")
    axes = normalize_dim(dim, input.ndim, "prod")
    if not input.ndim:  # a 0-d tensor: dims 0 and -1 are the tensor itself
        axes = None
    return input._wrap(input.array.prod(axis=axes, keepdims=keepdim))


def all(input, dim=None, keepdim=False):
    return input._wrap(input.array.all(axis=dim, keepdims=keepdim))


def any(input, dim=None, keepdim=False):
    return input._wrap(input.array.any(axis=dim, keepdims=keepdim))


def norm(input, p=2, dim=None, keepdim=False):
    if p == 2:
        return sqrt(sum(input * input, dim, keepdim))
    return pow_(sum(pow_(abs_(input), p), dim, keepdim), 1.0 / p)
