"""In-place ops (add_, mul_, zero_, copy_, ...).

Outside autograd they change the array itself and bump the version counter, so a graph
that saved the old values raises instead of giving a wrong gradient. On a non-leaf tensor
that is part of a graph, the result is computed out of place and the tensor is rebased onto
it, so gradients still flow. A leaf that requires grad cannot be changed in place while
grad mode is on, as in PyTorch.
"""
from ..backend import device_of, move
from ..errors import OpRuntimeError
from ..function import is_grad_enabled
from ..tensor_base import TensorBase
from . import elementwise as ew
from .indexing import masked_fill


def _inplace(out_of_place, array_op):
    def method(self, *args, **kwargs):
        if self.requires_grad and is_grad_enabled():
            if self.grad_fn is None:
                raise OpRuntimeError(method.__name__, "a leaf tensor that requires grad is being used in "
                                                      "an in-place operation; wrap the update in "
                                                      "distgrad.no_grad()")
            result = out_of_place(self._wrap(self.array, True, self.grad_fn), *args, **kwargs)
            self.array, self.grad_fn = result.array, result.grad_fn
        else:
            if array_op is not _copy:  # copy_ is the one in-place op that moves data between devices
                _check_same_device(method.__name__, self, args)
            array_op(self.array, *[a.array if isinstance(a, TensorBase) else a for a in args], **kwargs)
        self._bump_version()
        return self
    return method


def _check_same_device(name, target, args):
    for a in args:
        if isinstance(a, TensorBase) and type(a.array) is not type(target.array):
            raise OpRuntimeError(name, f"expected all tensors on the same device, got {target.device} and "
                                       f"{a.device}; move them with .to(device) first")


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
    a.clip(min, max, out=a)


def _copy(a, src, non_blocking=False):
    a[...] = move(src, device_of(a))


def _fill(a, value):
    a.fill(value)


def _masked_fill(a, mask, value):
    a[mask] = value


def _relu(a):
    a.clip(0, None, out=a)


add_ = _inplace(ew.add, _add)
sub_ = _inplace(ew.sub, _sub)
mul_ = _inplace(ew.mul, _mul)
div_ = _inplace(ew.div, _div)
pow_ = _inplace(ew.pow, _pow)
clamp_ = _inplace(ew.clamp, _clamp)
copy_ = _inplace(lambda t, src, non_blocking=False: ew.add(t * 0, src), _copy)
fill_ = _inplace(lambda t, v: t * 0 + v, _fill)
zero_ = _inplace(lambda t: t * 0, lambda a: a.fill(0))
relu_ = _inplace(lambda t: t.relu(), _relu)
masked_fill_ = _inplace(masked_fill, _masked_fill)
for _name, _fn in list(globals().items()):
    if _name.endswith("_") and not _name.startswith("_") and callable(_fn):
        _fn.__name__ = _name
