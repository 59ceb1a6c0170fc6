"""In-place ops (add_, mul_, zero_, copy_, ...).

Each writes the tensor's own memory, so views of it (and the base it is a view of) see the
change, and bumps the shared version counter, so a graph that saved the old values raises
instead of giving a wrong gradient. When neither the tensor nor an operand requires grad, or
under no_grad, that is all (``array_op`` on the array). Otherwise the result is computed out
of place and written in, and the history of the tensor, or of its base when it is a view, is
rewritten (autograd/views.py, which states the rules). A leaf that requires grad, or a view of
one, cannot be changed in place while grad mode is on, as in PyTorch.
"""
from ..autograd.views import needs_recording, write_in_place
from ..backend import device_of, get_array_module, move
from ..errors import OpNotImplementedError, OpRuntimeError
from ..function import Function, _state, is_grad_enabled, named_error
from ..random import generator_for
from ..tensor_base import TensorBase
from . import elementwise as ew
from ._util import as_tensor_like, cast, scalar_value, unbroadcast
from .activation import leaky_relu
from .indexing import convert_index, getitem, index_put, masked_fill


def _inplace(out_of_place, array_op, reads_self=False):
    """The in-place op computing ``out_of_place(tensor, *args)`` into the tensor; ``reads_self``:
    out_of_place's backward reads the tensor's old value (it must be kept)."""
    def method(self, *args, **kwargs):
        if _state.enabled and (self.requires_grad or _any_requires_grad(self, args, kwargs)
                               or (self._view is not None and needs_recording(self._view))):
            write_in_place(method.__name__, self,
                           lambda old, *a: _conform(method.__name__, out_of_place(old, *a, **kwargs), self),
                           reads_self, args)
            return self
        if array_op is not _copy:  # copy_ is the one in-place op that moves data between devices
            _check_same_device(method.__name__, self, args)
        arrays = [a.array if isinstance(a, TensorBase) else a for a in args]
        try:
            array_op(self.array, *arrays, **kwargs)
        except (ValueError, TypeError) as e:  # shapes that do not broadcast, a dtype it cannot hold
            raise named_error(method.__name__, [self.array] + [a for a in arrays if hasattr(a, "shape")],
                              e) from None
        self._bump_version()
        return self
    return method


def _any_requires_grad(target, args, kwargs):
    """Whether an operand requires grad and the target can hold a gradient (an integer tensor
    takes the values only, as in PyTorch)."""
    if target.array.dtype.kind not in "fc":
        return False
    for a in args:
        if isinstance(a, TensorBase) and a.requires_grad:
            return True
    return any(isinstance(a, TensorBase) and a.requires_grad for a in kwargs.values()) if kwargs else False


def _conform(name, result, target):
    """The out-of-place result as the in-place op leaves it: the target's shape and dtype."""
    if result.array.shape != target.array.shape:
        raise OpRuntimeError(name, f"output with shape {tuple(target.array.shape)} doesn't match the "
                                         f"broadcast shape {tuple(result.array.shape)}")
    if result.array.dtype != target.array.dtype:
        result = cast(result, target.array.dtype)
    return result


def _check_same_device(name, target, args):
    for a in args:
        if isinstance(a, TensorBase) and type(a.array) is not type(target.array):
            raise OpRuntimeError(name, f"expected all tensors on the same device, got {target.device} and "
                                       f"{a.device}; move them with .to(device) first")


class Overwrite(Function):
    """zero_, fill_ and copy_ out of place: ``src`` broadcast to x's shape and cast to its dtype.
    The old values are gone: their gradient is zero (never NaN, whatever they were)."""

    def forward(self, xp, x, src):
        self.src_shape, self.src_dtype = src.shape, src.dtype
        out = xp.empty_like(x)
        out[...] = src
        return out

    def backward(self, xp, g):
        keep, copied = self.needs_grad
        gs = unbroadcast(g, self.src_shape).astype(self.src_dtype, copy=False) if copied else None
        return xp.zeros_like(g) if keep else None, gs


def overwrite(input, src):
    if not isinstance(src, TensorBase):
        src = as_tensor_like(src, input)
    elif type(src.array) is not type(input.array):
        src = src.to(input.device)
    return Overwrite.apply(input, src)


def _add(a, b, alpha=1):
    a += b if alpha == 1 else alpha * b


def _sub(a, b, alpha=1):
    a -= b if alpha == 1 else alpha * b


def _mul(a, b):
    a *= b


def _div(a, b):
    a /= b


def _pow(a, e):
    a **= e


def _clamp(a, min=None, max=None):
    ew.check_bounds("clamp_", min, max)
    a.clip(min, max, out=a)


def _copy(a, src, non_blocking=False):
    a[...] = move(src, device_of(a))


def _fill(a, value):
    a.fill(scalar_value("fill_", value))


def _masked_fill(a, mask, value):
    a[mask] = scalar_value("masked_fill_", value)


def _random(x, kind, p, q, generator):
    """Values drawn from distgrad's seeded generator (or ``generator``) in x's shape and dtype."""
    if x.dtype.kind != "f":
        raise OpNotImplementedError(f"{kind}_", f"not implemented for a tensor of dtype {x.dtype}; "
                                                "convert it with .float() first")
    rng = generator.rng if generator is not None else generator_for(get_array_module(x))
    return getattr(rng, kind)(p, q, size=x.shape).astype(x.dtype, copy=False)


def _drawn(t, kind, p, q, generator):
    return t._wrap(_random(t.array, kind, p, q, generator))


def _fill_drawn(x, kind, p, q, generator):
    x[...] = _random(x, kind, p, q, generator)


def _index_put(a, index, value):
    a[index] = value


def _relu(a):
    a.clip(0, None, out=a)


def _leaky_relu(a, negative_slope=0.01):
    a[...] = get_array_module(a).where(a > 0, a, a * negative_slope)


add_ = _inplace(ew.add, _add)
sub_ = _inplace(ew.sub, _sub)
mul_ = _inplace(ew.mul, _mul, reads_self=True)
div_ = _inplace(ew.div, _div, reads_self=True)
pow_ = _inplace(ew.pow, _pow, reads_self=True)
clamp_ = _inplace(ew.clamp, _clamp, reads_self=True)
copy_ = _inplace(lambda t, src, non_blocking=False: overwrite(t, src), _copy)
fill_ = _inplace(lambda t, value: overwrite(t, scalar_value("fill_", value)), _fill)
zero_ = _inplace(lambda t: overwrite(t, 0), lambda a: a.fill(0))
relu_ = _inplace(lambda t: t.relu(), _relu)
leaky_relu_ = _inplace(leaky_relu, _leaky_relu, reads_self=True)
masked_fill_ = _inplace(masked_fill, _masked_fill)
index_put_ = _inplace(index_put, _index_put)
uniform_ = _inplace(lambda t, a=0.0, b=1.0, generator=None: overwrite(t, _drawn(t, "uniform", a, b, generator)),
                   lambda x, a=0.0, b=1.0, generator=None: _fill_drawn(x, "uniform", a, b, generator))
normal_ = _inplace(lambda t, mean=0.0, std=1.0, generator=None: overwrite(t, _drawn(t, "normal", mean, std, generator)),
                   lambda x, mean=0.0, std=1.0, generator=None: _fill_drawn(x, "normal", mean, std, generator))
for _name, _fn in list(globals().items()):
    if _name.endswith("_") and not _name.startswith("_") and callable(_fn):
        _fn.__name__ = _name


def setitem(input, index, value):
    """Index assignment, in place: the data is written and the version bumped. When autograd is
    involved it is copy_ into the view ``input[index]``, or index_put_ for advanced indexing,
    so that the gradient follows (autograd/views.py)."""
    if is_grad_enabled() and (input.requires_grad or (isinstance(value, TensorBase) and value.requires_grad
                                                      and input.array.dtype.kind in "fc")
                              or (input._view is not None and needs_recording(input._view))):
        converted, advanced = convert_index(index, input.xp, input.array.shape)
        if advanced:
            index_put_(input, converted, value)
        else:
            copy_(getitem(input, index), value)
        return
    index, _ = convert_index(index, input.xp, input.array.shape)
    try:
        input.array[index] = value.array if isinstance(value, TensorBase) else value
    except (IndexError, ValueError) as e:  # an index out of bounds, a value that does not broadcast
        raise named_error("setitem", (input.array,), e) from None
    input._bump_version()
