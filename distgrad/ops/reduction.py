"""Reductions over dims: sum, mean, max/min (values and indices), amax/amin, var/std, prod,
norm, argmax/argmin, all/any."""
import math
import operator
from collections import namedtuple

from ..errors import OpIndexError, OpRuntimeError, OpTypeError, OpValueError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import normalize_dim
from .elementwise import maximum, minimum

values_indices = namedtuple("values_indices", ["values", "indices"])


def _expand_back(xp, g, in_shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced axes."""
    return xp.broadcast_to(_keep(g, in_shape, axes, keepdim), in_shape)


def _keep(g, in_shape, axes, keepdim):
    """A reduced array with its reduced axes put back as size 1 (as keepdim=True gives)."""
    if keepdim:
        return g
    if axes is None:
        return g.reshape((1,) * len(in_shape))
    shape = list(in_shape)
    for a in axes:
        shape[a] = 1
    return g.reshape(shape)


def _count(shape, axes):
    """How many elements each output element reduces over."""
    return math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)


class Sum(Function):
    def forward(self, xp, x, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    def backward(self, xp, g):
        return (_expand_back(xp, g, self.in_shape, self.axes, self.keepdim),)


class Mean(Function):
    def forward(self, xp, x, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = x.shape, axes, keepdim
        self.count = _count(x.shape, axes)
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, xp, g):
        # No element is reduced over an empty dim, so its gradient is empty: no 1/0 to take.
        g = g / self.count if self.count else g
        return (_expand_back(xp, g, self.in_shape, self.axes, self.keepdim),)


class Extremum(Function):
    """max or min over all elements or over one dim; the gradient goes to the chosen element
    (shared equally between ties, NaNs included, for a full reduction, as PyTorch)."""
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
            if x.dtype.kind == "f":  # a NaN result is shared between the NaNs
                mask |= xp.isnan(x) & xp.isnan(self.out)
            return (mask * (g / mask.sum()),)
        gx = xp.zeros(x.shape, dtype=g.dtype)
        gk = g if self.keepdim else xp.expand_dims(g, self.dim)
        xp.put_along_axis(gx, self.index, gk, axis=self.dim)
        return (gx,)


class AExtremum(Function):
    """amax or amin over any dims: the gradient is shared equally between the tied extrema of
    each reduced group; a NaN result (equal to nothing) gives the group NaN gradients, as PyTorch."""
    saves_inputs = True

    def forward(self, xp, x, axes, keepdim, largest):
        out = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        self.saved, self.out, self.axes = x, out, axes
        return out if keepdim else out.reshape(_reduced_shape(x.shape, axes))

    def backward(self, xp, g):
        x = self.saved
        mask = x == self.out
        g = _keep(g, x.shape, self.axes, False) / mask.sum(axis=self.axes, keepdims=True)
        return (mask * g,)


def _reduced_shape(shape, axes):
    return () if axes is None else tuple(s for i, s in enumerate(shape) if i not in axes)


class Var(Function):
    """var, or std with ``root``: std's gradient is 0 where std is 0, as PyTorch.

    With too few elements for the correction the gradient follows PyTorch's too: a full
    reduction gives NaN where x is its mean and inf elsewhere; a reduction over dims scales by
    2 / (n - correction) unclamped, n being 1 for an explicitly empty dim list."""
    saves_inputs = True

    def forward(self, xp, x, axes, keepdim, correction, root, full, n):
        self.saved, self.root, self.full, self.n = x, root, full, n
        self.axes, self.keepdim, self.correction = axes, keepdim, correction
        out = x.var(axis=axes, ddof=correction, keepdims=keepdim)
        if root:
            out = self.out = xp.sqrt(out)
        return out

    def backward(self, xp, g):
        x = self.saved
        if x.size == 0:
            return (xp.zeros(x.shape, dtype=g.dtype),)
        dof = (x.size if self.n is None else self.n) - self.correction
        if self.root:
            out = self.out
            g = xp.where(out == 0, 0, g / (2 * out)).astype(g.dtype, copy=False)
        mean = x.mean(axis=self.axes, keepdims=True)
        g = _expand_back(xp, g, x.shape, self.axes, self.keepdim)
        if self.full and dof <= 0:
            return (g * xp.where(x == mean, math.nan, math.inf).astype(x.dtype, copy=False),)
        return (g * (x - mean) * (2.0 / dof if dof else math.inf),)


class Prod(Function):
    """The gradient of a product: the product of the other elements, exact with zeros."""
    saves_inputs = True

    def forward(self, xp, x, dim, keepdim):
        self.saved, self.dim, self.keepdim = x, dim, keepdim
        out = x.prod(axis=dim, keepdims=True)
        self.out = out
        return out if keepdim else out.reshape(_reduced_shape(x.shape, None if dim is None else (dim,)))

    def backward(self, xp, g):
        x, dim = self.saved, self.dim
        if x.ndim == 0:
            return (g,)
        g = _keep(g, x.shape, None if dim is None else (dim,), False)
        zeros = int((x == 0).sum())
        if not zeros:
            return (g * (self.out / x),)
        if dim is None:
            if zeros > 1:  # as PyTorch: every other element's product has a zero in it
                return (xp.zeros(x.shape, dtype=x.dtype),)
            return ((g * _exclusive_products(xp, x.reshape(-1), 0).reshape(x.shape)),)
        return (g * _exclusive_products(xp, x, dim),)


def _exclusive_products(xp, x, axis):
    """At each position, the product of the elements before it times those after it along axis."""
    x = xp.moveaxis(x, axis, 0)
    out = xp.ones_like(x)
    out[1:] = xp.cumprod(x, axis=0)[:-1]
    out[:-1] *= xp.flip(xp.cumprod(xp.flip(x, axis=0), axis=0), axis=0)[1:]
    return xp.moveaxis(out, 0, axis)


class Norm(Function):
    """The vector p-norm over the reduced dims, its gradient as PyTorch's: 0 where the norm
    is 0, sign(NaN) = 0 for p = 1, the inf norms' shared equally between ties."""
    saves_inputs = True

    def forward(self, xp, x, p, axes, keepdim):
        a = xp.abs(x)
        if p == 0:
            out = (x != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        elif p == math.inf:
            out = a.max(axis=axes, keepdims=True)
        elif p == -math.inf:
            out = a.min(axis=axes, keepdims=True)
        elif p == 1:
            out = a.sum(axis=axes, keepdims=True)
        elif p == 2:
            out = xp.sqrt((x * x).sum(axis=axes, keepdims=True))
        else:
            out = ((a ** p).sum(axis=axes, keepdims=True)) ** (1.0 / p)
        self.saved, self.out, self.p, self.axes = x, out, p, axes
        return out if keepdim else out.reshape(_reduced_shape(x.shape, axes))

    def backward(self, xp, g):
        x, out, p = self.saved, self.out, self.p
        g = _keep(g, x.shape, self.axes, False)
        if p == 0:
            return (xp.zeros(x.shape, dtype=g.dtype),)
        sign = (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)  # 0 at NaN, as PyTorch's sgn
        if p == 1:
            gx = sign * g
        elif p in (math.inf, -math.inf):
            mask = xp.abs(x) == out
            gx = sign * mask * (g / xp.maximum(mask.sum(axis=self.axes, keepdims=True), 1))
        elif p == 2:
            gx = x * xp.where(out == 0, 0, g / out)
        elif p < 1:  # |x|^(p-1) is infinite at 0, where PyTorch takes the gradient as 0
            gx = xp.where(x == 0, 0, sign * xp.abs(x) ** (p - 1)) * (g * out ** (1 - p))
        else:
            gx = sign * xp.abs(x) ** (p - 1) * xp.where(out == 0, 0, g / out ** (p - 1))
        return (gx.astype(x.dtype, copy=False),)


# ---------------------------------------------------------------- functional API

def _axes(input, dim, op):
    """The reduced axes as a tuple, or None for all of them: dim None, an empty list, or any
    dim of a 0-d tensor (whose dims 0 and -1 are the tensor itself)."""
    if dim is None:
        return None
    axes = normalize_dim(dim, input.ndim, op)
    return None if not axes or input.ndim == 0 else axes


def _int_dim(dim, op):
    """max, min, argmax, argmin and prod take one int dim, as PyTorch's."""
    try:
        return operator.index(dim)
    except TypeError:
        raise OpTypeError(op, f"dim must be an int, got {dim!r}; reduce one dim at a time "
                              "(or use amax/amin for several)") from None


def _check_float(input, op):
    if input.array.dtype.kind != "f":
        raise OpRuntimeError(op, f"expected a floating point input, got {input.array.dtype}; "
                                 "convert it with .float() or .double() first")


def _check_nonempty(input, axes, op):
    """A reduction without an identity (max, min, inf norms) needs every reduced dim non-empty."""
    if input.array.size == 0:
        if axes is None:
            raise OpRuntimeError(op, f"expected a non-empty tensor to reduce over all dims, got shape "
                                     f"{tuple(input.shape)}; pass a dim whose size is not 0")
        for a in axes:
            if input.shape[a] == 0:
                raise OpIndexError(op, f"reduction dim {a} of shape {tuple(input.shape)} has size 0; "
                                       "reduce over non-empty dims only")


def sum(input, dim=None, keepdim=False, dtype=None, axis=None):
    if dtype is not None:
        input = input.to(dtype)
    elif input.array.dtype.kind in "bui":  # integer sums widen to int64, as in PyTorch
        input = input.long()
    return Sum.apply(input, axes=_axes(input, axis if dim is None else dim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False, dtype=None, axis=None):
    if dtype is not None:
        input = input.to(dtype)
    _check_float(input, "mean")
    return Mean.apply(input, axes=_axes(input, axis if dim is None else dim, "mean"), keepdim=keepdim)


def _extremum(input, dim, keepdim, largest, op):
    if isinstance(dim, TensorBase):  # torch.max(a, b) is the elementwise maximum
        return (maximum if largest else minimum)(input, dim)
    if dim is None:
        if keepdim:
            raise OpTypeError(op, "keepdim=True needs a dim (the whole tensor's extremum has no dims to keep); "
                                  f"pass dim, or use a{op} with keepdim")
        _check_nonempty(input, None, op)
        return Extremum.apply(input, dim=None, keepdim=False, largest=largest)
    index = _arg(input, dim, keepdim, largest, op)  # checks the dim
    if input.ndim == 0:  # as PyTorch: a 0-d tensor is its own extremum, at index 0
        return values_indices(Extremum.apply(input, dim=None, keepdim=False, largest=largest), index)
    axis = normalize_dim(dim, input.ndim, op)[0]
    return values_indices(Extremum.apply(input, dim=axis, keepdim=keepdim, largest=largest), index)


def max(input, dim=None, keepdim=False):
    return _extremum(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):
    return _extremum(input, dim, keepdim, False, "min")


def _aextremum(input, dim, keepdim, largest, op):
    axes = _axes(input, dim, op)
    _check_nonempty(input, axes, op)
    return AExtremum.apply(input, axes=axes, keepdim=keepdim, largest=largest)


def amax(input, dim=None, keepdim=False):
    return _aextremum(input, dim, keepdim, True, "amax")


def amin(input, dim=None, keepdim=False):
    return _aextremum(input, dim, keepdim, False, "amin")


def _var(input, dim, unbiased, keepdim, correction, root):
    op = "std" if root else "var"
    _check_float(input, op)
    if correction is None:
        correction = 0 if unbiased is False else 1
    elif not isinstance(correction, (int, float)):
        raise OpTypeError(op, f"correction must be a number, got {type(correction).__name__} {correction!r}")
    axes = _axes(input, dim, op)
    full = dim is None or input.ndim == 0
    # PyTorch's backward counts an explicit empty dim list as 1 element (its forward takes all)
    n = None if full else 1 if axes is None else _count(input.shape, axes)
    return Var.apply(input, axes=axes, keepdim=keepdim, correction=correction, root=root, full=full, n=n)


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return _var(input, dim, unbiased, keepdim, correction, False)


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return _var(input, dim, unbiased, keepdim, correction, True)


def argmax(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, True, "argmax")


def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, False, "argmin")


def _arg(input, dim, keepdim, largest, op):
    a = input.array
    if dim is None:
        _check_nonempty(input, None, op)
        return input._wrap(input.xp.asarray((a.argmax() if largest else a.argmin())).astype("int64"))
    axis = normalize_dim(_int_dim(dim, op), input.ndim, op)[0]
    if input.ndim == 0:  # as PyTorch: a 0-d tensor's one element is at index 0
        return input._wrap(input.xp.zeros((), "int64"))
    _check_nonempty(input, (axis,), op)
    index = a.argmax(axis=axis) if largest else a.argmin(axis=axis)
    if keepdim:
        index = input.xp.expand_dims(index, axis)
    return input._wrap(index.astype("int64"))


def prod(input, dim=None, keepdim=False):
    axis = None
    if dim is not None:
        axis = normalize_dim(_int_dim(dim, "prod"), input.ndim, "prod")[0]
        if not input.ndim:  # a 0-d tensor: dims 0 and -1 are the tensor itself
            axis = None
    if input.array.dtype.kind != "f":  # integer and bool products in int64, as PyTorch's; no gradient
        return input._wrap(input.array.prod(axis=axis, keepdims=keepdim, dtype="int64"))
    return Prod.apply(input, dim=axis, keepdim=keepdim)


def all(input, dim=None, keepdim=False):
    return input._wrap(_as_uint8_for_uint8(input, input.array.all(axis=_axes(input, dim, "all"), keepdims=keepdim)))


def any(input, dim=None, keepdim=False):
    return input._wrap(_as_uint8_for_uint8(input, input.array.any(axis=_axes(input, dim, "any"), keepdims=keepdim)))


def _as_uint8_for_uint8(input, result):
    """PyTorch's all/any answer in bool, but in uint8 for a uint8 input."""
    return result.astype("uint8") if input.array.dtype == "uint8" else result


def norm(input, p=2, dim=None, keepdim=False):
    _check_float(input, "norm")
    if p == "fro":
        if isinstance(dim, (tuple, list)) and len(dim) > 2:  # a matrix norm, as PyTorch's
            raise OpRuntimeError("norm", f"p='fro' takes one or two dims, got dim={dim!r}; "
                                         "use p=2 for the 2-norm over more dims")
        p = 2
    elif isinstance(p, str) or not isinstance(p, (int, float)):
        raise OpValueError("norm", f"order p={p!r} is not supported; use a number, inf, -inf or 'fro'")
    axes = _axes(input, dim, "norm")
    if p < 0 or p == math.inf:  # no identity (max, min, 1/0): an empty reduction has no value
        _check_nonempty(input, axes, "norm")
    return Norm.apply(input, p=p, axes=axes, keepdim=keepdim)
