"""The functional API (distgrad.relu, distgrad.cat, ...) and the Tensor methods built on it.

Every function takes the tensor first, so the same function serves as a method:
``distgrad.sum(x, 1)`` and ``x.sum(1)`` are one piece of code.
"""
from ._host_memory import keep_host_memory as _keep_host_memory
from ._util import cast
from .activation import gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv2d
from .device import to_device
from .dropout import dropout
from .elementwise import (abs, add, allclose, ceil, clamp, clip, clone, div, eq, equal, exp, floor, ge,
                          gt, isfinite, isinf, isnan, le, log, logical_and, logical_not, logical_or,
                          logical_xor, lt, maximum, minimum, mul, ne, neg, pow, round, rsqrt, sign,
                          sqrt, square, sub, where)
from .embedding import embedding
from .indexing import gather, getitem, index_select, masked_fill, nonzero, setitem
from .inplace import add_, clamp_, copy_, div_, fill_, masked_fill_, mul_, pow_, relu_, sub_, zero_
from .linalg import bmm, dot, linear, matmul, mm, outer
from .loss import cross_entropy, mse_loss, nll_loss
from .normalization import batch_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .reduction import (all, amax, amin, any, argmax, argmin, max, mean, min, norm, prod, std,
                        sum, var)
from .shape import (broadcast_to, cat, chunk, concat, concatenate, expand, expand_as, flatten, permute,
                    reshape, reshape_as, split, squeeze, stack, swapaxes, t, transpose, unbind,
                    unflatten, unsqueeze, view, view_as)

multiply, divide, subtract, true_divide, negative = mul, div, sub, div, neg
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne

_METHODS = """abs add allclose ceil clamp clip clone div eq equal exp floor ge gt isfinite isinf isnan
le log logical_and logical_not logical_or logical_xor lt maximum minimum mul ne neg pow round rsqrt
sign sqrt square sub where gather index_select masked_fill nonzero relu sigmoid tanh softmax
log_softmax matmul mm bmm dot outer all amax amin any argmax argmin max mean min norm prod std
sum var broadcast_to chunk expand expand_as flatten permute reshape reshape_as split squeeze
swapaxes t transpose unbind unflatten unsqueeze view view_as add_ clamp_ copy_ div_ fill_ mul_
pow_ relu_ sub_ zero_ masked_fill_ multiply divide subtract true_divide negative""".split()


def _install_methods(cls):
    for name in _METHODS:
        setattr(cls, name, globals()[name])
    cls.__getitem__ = getitem
    cls.__setitem__ = setitem
    cls.T = property(lambda self: self.permute(*reversed(range(self.ndim))))
    cls.mT = property(lambda self: self.transpose(-2, -1))
    cls.__add__ = cls.__radd__ = add
    cls.__sub__ = sub
    cls.__rsub__ = lambda self, other: sub(other, self)
    cls.__mul__ = cls.__rmul__ = mul
    cls.__truediv__ = div
    cls.__rtruediv__ = lambda self, other: div(other, self)
    cls.__floordiv__ = lambda self, other: div(self, other, rounding_mode="floor")
    cls.__mod__ = lambda self, other: self - div(self, other, rounding_mode="floor") * other
    cls.__pow__ = pow
    cls.__rpow__ = lambda self, other: pow(other, self)
    cls.__matmul__ = matmul
    cls.__rmatmul__ = lambda self, other: matmul(other, self)
    cls.__neg__ = neg
    cls.__pos__ = lambda self: self
    cls.__abs__ = abs
    cls.__eq__, cls.__ne__, cls.__lt__ = eq, ne, lt
    cls.__le__, cls.__gt__, cls.__ge__ = le, gt, ge
    cls.__and__ = cls.__rand__ = logical_and
    cls.__or__ = cls.__ror__ = logical_or
    cls.__xor__ = logical_xor
    cls.__invert__ = logical_not
    cls.__iadd__ = lambda self, other: add_(self, other)
    cls.__isub__ = lambda self, other: sub_(self, other)
    cls.__imul__ = lambda self, other: mul_(self, other)
    cls.__itruediv__ = lambda self, other: div_(self, other)


from ..tensor import Tensor as _Tensor  # noqa: E402

_install_methods(_Tensor)


# What ``from distgrad.ops import *`` (and so the top-level ``distgrad``) exports: functions
# only, not submodules, and not the ops whose top-level PyTorch namesakes take their
# arguments in another order (those live in distgrad.nn.functional).
_FUNCTIONAL_ONLY = {"batch_norm", "embedding"}
__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and not isinstance(_v, type(_util)) and _n not in _FUNCTIONAL_ONLY]

_keep_host_memory()  # once, at import: see _host_memory.py
