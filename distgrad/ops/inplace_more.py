"""lerp_, clamp_min_, clamp_max_, nan_to_num_ and Tensor.index_put_/index_put (indices as a tuple
of tensors, optionally accumulating), on the in-place machinery of inplace.py."""
from ..backend import get_array_module
from ..errors import OpRuntimeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import as_tensor_like, cast, require_floating, unbroadcast
from .blend import lerp
from .misc_math import clamp_max, clamp_min, nan_to_num
from .indexing import convert_index, index_put as _put, scatter_add
from .inplace import _inplace, index_put_ as _index_put_


def _lerp_array(a, end, weight):
    # no autograd: the two-sided formula of lerp's forward, written into a
    xp = get_array_module(a)
    diff = end - a
    a[...] = xp.where(xp.abs(weight) < 0.5, a + weight * diff, end - diff * (1 - weight))


_lerp_inplace = _inplace(lerp, _lerp_array, reads_self=True)


def lerp_(input, end, weight):
    require_floating("lerp_", input)
    return _lerp_inplace(input, end, weight)


clamp_min_ = _inplace(clamp_min, lambda a, min: a.clip(min, None, out=a), reads_self=True)
clamp_max_ = _inplace(clamp_max, lambda a, max: a.clip(None, max, out=a), reads_self=True)


def _nan_to_num_array(a, nan=0.0, posinf=None, neginf=None):
    if a.dtype.kind == "f":
        get_array_module(a).nan_to_num(a, copy=False, nan=nan, posinf=posinf, neginf=neginf)


nan_to_num_ = _inplace(nan_to_num, _nan_to_num_array, reads_self=True)
_lerp_inplace.__name__ = "lerp_"  # the name its errors give
for _name in ("clamp_min_", "clamp_max_", "nan_to_num_"):
    globals()[_name].__name__ = _name


class IndexAccumulate(Function):
    """``x`` with ``value`` added at ``index`` (repeated positions add up), out of place."""

    def forward(self, xp, x, value, index):
        self.index, self.value_shape = index, value.shape
        out = x.copy()
        scatter_add(xp, out, index, xp.broadcast_to(value, out[index].shape))
        return out

    def backward(self, xp, g):
        keep, added = self.needs_grad
        return g if keep else None, unbroadcast(g[self.index], self.value_shape) if added else None


def _converted(op, input, indices):
    if not isinstance(indices, (tuple, list)):
        raise OpRuntimeError(op, f"indices must be a tuple of tensors, got {type(indices).__name__}")
    return convert_index(tuple(indices), input.xp, input.array.shape)[0]


def _accumulate(input, index, values):
    values = as_tensor_like(values, input)
    if values.array.dtype != input.array.dtype:
        values = cast(values, input.array.dtype)
    return IndexAccumulate.apply(input, values, index=index)


def _accumulate_array(a, index, values):
    xp = get_array_module(a)
    scatter_add(xp, a, index, xp.broadcast_to(values, a[index].shape))


_index_accumulate_ = _inplace(_accumulate, _accumulate_array)


def index_put(input, indices, values, accumulate=False):
    """Out of place: ``input`` with ``input[indices] = values`` (``+=`` when accumulate, repeats adding up)."""
    index = _converted("index_put", input, indices)
    return _accumulate(input, index, values) if accumulate else _put(input, index, values)


def index_put_(input, indices, values, accumulate=False):
    index = _converted("index_put_", input, indices)
    if not isinstance(values, TensorBase):
        values = as_tensor_like(values, input)
    return (_index_accumulate_ if accumulate else _index_put_)(input, index, values)
