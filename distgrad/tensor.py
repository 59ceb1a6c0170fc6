"""Tensor: an n-dimensional array (NumPy or CuPy) that can record how it was computed.

The class declares the whole public API here; op methods call the functions in
distgrad.ops. What it builds on (Function, the ops, the backward engine) sees only
TensorBase and never imports this module: see tensor_base.py.
"""
import numpy

from . import dtypes
from .autograd import views as _views
from .autograd.engine import run_backward
from .backend import device as Device, device_of, get_array_module, is_gpu_array, move
from .function import _state as _grad_state, is_grad_enabled
from .ops import (activation as _activation, elementwise as _elementwise, indexing as _indexing,
                  inplace as _inplace, linalg as _linalg, reduction as _reduction, shape as _shape)
from .ops import (blend as _blend, reorder as _reorder, scan as _scan, sorting as _sorting, special as _special,
                  triangular as _triangular, trig as _trig)
from .ops._util import cast, shape_arg
from .ops import scatter_reductions as _scatter_reduce, scattering as _scatter
from .ops import addc as _addc, counting as _counting, inplace_unary as _inplace_unary
from .ops import (differences as _differences, inplace_more as _inplace_more, misc_math as _misc_math,
                  paired_reductions as _paired, products as _products, quantiles as _quantiles)
from .ops import sampling as _sampling
from .ops.device import to_device
from .tensor_base import TensorBase


class Tensor(TensorBase):
    """The public tensor API. The op methods delegate to the functions in distgrad.ops, with
    the same signatures: ``x.sum(1)`` is ``distgrad.sum(x, 1)``."""

    __slots__ = ()

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        array = _to_array(data, dtypes.to_dtype(dtype))
        if device is not None:
            array = move(array, device)
        self._init(array, False, None)
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(array, requires_grad=False, grad_fn=None):
        """Fast constructor for arrays the library made itself (no conversion, no checks).
        Called on an instance by the layers below (``x._wrap``), it still makes a Tensor."""
        if isinstance(array, _generic):  # NumPy ops on 0-d arrays return scalars
            array = numpy.asarray(array)
        t = _new(Tensor)
        # _init inlined: this runs once per op, and the call cost 0.14 of 0.56 us (timeit).
        t.array = array
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        t._version = [0]
        t._hooks = t._post_hooks = t.name = None
        return t

    def _wrap_view(self, array, requires_grad, grad_fn, cls, params):
        """The output of a view op (``cls.is_view``), whose array is a view of this tensor's: it
        shares the version counter. It is a TensorView, which knows its base and how to re-derive
        itself from it (autograd/views.py)."""
        return _views.init_view(_new(TensorView), array, requires_grad, grad_fn, self, cls, params,
                                not (requires_grad or _grad_state.enabled))

    # ----------------------------------------------------------------- properties
    @property
    def shape(self):
        return Size(self.array.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self.array.shape[dim]

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        return device_of(self.array)

    @property
    def is_cuda(self):
        return is_gpu_array(self.array)

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    def numel(self):
        return int(self.array.size)

    def element_size(self):
        return self.array.itemsize

    def pin_memory(self, device=None):
        """This tensor, unchanged: NumPy memory is never page-locked, so nothing is pinned (and
        ``.to("cuda", non_blocking=True)`` copies synchronously). Returned rather than refused, as
        PyTorch does without a GPU, so that scripts calling it before every copy run as they are.
        A GPU tensor cannot be pinned, as in PyTorch."""
        if is_gpu_array(self.array):
            raise RuntimeError(f"cannot pin a {self.device} tensor: only dense CPU tensors can be pinned")
        return self

    def is_pinned(self, device=None):
        """False: distgrad never pins host memory (see pin_memory)."""
        return False

    def data_ptr(self):
        """The address of the first element (NumPy's or CuPy's), as PyTorch's."""
        if is_gpu_array(self.array):
            return int(self.array.data.ptr)
        return int(self.array.__array_interface__["data"][0])

    def nelement(self):
        return int(self.array.size)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def data(self):
        """A tensor that shares this one's memory but is cut from the graph."""
        t = Tensor._wrap(self.array)
        t._version = self._version
        return t

    @data.setter
    def data(self, value):
        self.array = value.array if isinstance(value, Tensor) else value

    @property
    def xp(self):
        return get_array_module(self.array)

    def _bump_version(self):
        """Record an in-place change of this tensor's memory (seen by every view sharing it),
        so a graph that saved the old values refuses to backward through them."""
        self._version[0] += 1

    # ----------------------------------------------------------------- autograd
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(f"only floating point tensors can require gradients, got dtype "
                               f"{self.array.dtype} (shape {tuple(self.array.shape)}); "
                               "convert with .float() first")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=False, create_graph=False, inputs=None):
        run_backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph,
                      inputs=inputs)

    def detach(self):
        t = Tensor._wrap(self.array)
        t._version = self._version
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def register_hook(self, hook):
        """``hook(grad) -> Tensor or None`` runs when this tensor's gradient is computed;
        a returned tensor replaces the gradient."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require grad")
        if self.grad_fn is not None:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = []
            target = self.grad_fn.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            target = self._hooks
        target.append(hook)
        return _RemovableHandle(target, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs the moment this leaf's gradient for the current backward is
        final and accumulated into ``.grad``, while the rest of backward goes on."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks can only be registered on leaf tensors")
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(hook)
        return _RemovableHandle(self._post_hooks, hook)

    def retain_grad(self):
        if self.grad_fn is None:
            return
        def keep(grad, tensor=self):
            tensor.grad = grad if tensor.grad is None else tensor.grad + grad
        self.register_hook(keep)

    # ----------------------------------------------------------------- conversion
    def numpy(self):
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("Can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()")
        if is_gpu_array(self.array):
            raise TypeError(f"can't convert a {self.device} tensor to NumPy; use .cpu() first")
        return self.array

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item(): only one element tensors can be converted to Python scalars, "
                             f"got shape {tuple(self.array.shape)}")
        return self.array.item()

    def tolist(self):
        return self.array.tolist()

    def __array__(self, dtype=None, copy=None):
        array = move(self.array, "cpu")
        return array if dtype is None else array.astype(dtype, copy=False)

    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)``."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, (Device, str)) and not _is_dtype_name(arg):
                device = arg
            else:
                dtype = arg
        out = self
        if dtype is not None and numpy.dtype(dtype) != self.array.dtype:
            out = cast(out, numpy.dtype(dtype))
        if device is not None and Device(device) != out.device:
            out = to_device(out, Device(device))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else Device(device if not isinstance(device, int) else f"cuda:{device}"))

    def type(self, dtype=None):
        """PyTorch's legacy type name ('torch.FloatTensor', 'torch.cuda.LongTensor', ...: what
        scripts compare against), or the tensor converted to ``dtype``, which may be such a name."""
        if dtype is None:
            name = next(k for k, v in _LEGACY_TYPES.items() if v == self.dtype)
            return f"torch.{'cuda.' if self.is_cuda else ''}{name}"
        legacy = _LEGACY_TYPES.get(dtype.rsplit(".", 1)[-1]) if isinstance(dtype, str) else None
        if legacy is None:
            return self.to(dtype)
        return self.to(legacy).to("cuda" if ".cuda." in dtype else "cpu")

    def type_as(self, other):
        return self.to(other.dtype)

    def ndimension(self):
        return self.ndim

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool)

    def is_floating_point(self):
        return self.array.dtype.kind == "f"

    def contiguous(self, memory_format=None):
        return _shape.contiguous(self, memory_format)

    def is_contiguous(self):
        return bool(self.array.flags.c_contiguous)

    # new_*: this tensor's dtype and device unless given, as PyTorch's (layout and pin_memory
    # are accepted and have no meaning here)
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
        return Tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *sizes, size=None, dtype=None, device=None, requires_grad=False, layout=None,
                  pin_memory=False):
        return self._new("zeros", sizes if size is None else (size,), dtype, device, requires_grad)

    def new_ones(self, *sizes, size=None, dtype=None, device=None, requires_grad=False, layout=None,
                  pin_memory=False):
        return self._new("ones", sizes if size is None else (size,), dtype, device, requires_grad)

    def new_empty(self, *sizes, size=None, dtype=None, device=None, requires_grad=False, layout=None,
                  pin_memory=False):
        return self._new("empty", sizes if size is None else (size,), dtype, device, requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False, layout=None,
                 pin_memory=False):
        return self._new("full", (size,), dtype, device, requires_grad, fill_value)

    def _new(self, factory, size, dtype, device, requires_grad, *values):
        from . import creation  # creation imports this module
        return getattr(creation, factory)(shape_arg(size), *values, dtype=dtype or self.dtype,
                                          device=device or self.device, requires_grad=requires_grad)

    # ----------------------------------------------------------------- elementwise
    def abs(self):
        return _elementwise.abs(self)

    def add(self, other, alpha=1):
        return _elementwise.add(self, other, alpha)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _elementwise.allclose(self, other, rtol, atol, equal_nan)

    def ceil(self):
        return _elementwise.ceil(self)

    def clamp(self, min=None, max=None):
        return _elementwise.clamp(self, min, max)

    def clip(self, min=None, max=None):
        return _elementwise.clip(self, min, max)

    def clone(self):
        return _elementwise.clone(self)

    def div(self, other, rounding_mode=None):
        return _elementwise.div(self, other, rounding_mode)

    def eq(self, other):
        return _elementwise.eq(self, other)

    def equal(self, other):
        return _elementwise.equal(self, other)

    def exp(self):
        return _elementwise.exp(self)

    def floor(self):
        return _elementwise.floor(self)

    def ge(self, other):
        return _elementwise.ge(self, other)

    def gt(self, other):
        return _elementwise.gt(self, other)

    def isfinite(self):
        return _elementwise.isfinite(self)

    def isinf(self):
        return _elementwise.isinf(self)

    def isnan(self):
        return _elementwise.isnan(self)

    def le(self, other):
        return _elementwise.le(self, other)

    def log(self):
        return _elementwise.log(self)

    def logical_and(self, other):
        return _elementwise.logical_and(self, other)

    def logical_not(self):
        return _elementwise.logical_not(self)

    def logical_or(self, other):
        return _elementwise.logical_or(self, other)

    def logical_xor(self, other):
        return _elementwise.logical_xor(self, other)

    def lt(self, other):
        return _elementwise.lt(self, other)

    def maximum(self, other):
        return _elementwise.maximum(self, other)

    def minimum(self, other):
        return _elementwise.minimum(self, other)

    def mul(self, other):
        return _elementwise.mul(self, other)

    def ne(self, other):
        return _elementwise.ne(self, other)

    def neg(self):
        return _elementwise.neg(self)

    def pow(self, exponent):
        return _elementwise.pow(self, exponent)

    def round(self, decimals=0):
        return _elementwise.round(self, decimals)

    def rsqrt(self):
        return _elementwise.rsqrt(self)

    def sign(self):
        return _elementwise.sign(self)

    def sqrt(self):
        return _elementwise.sqrt(self)

    def square(self):
        return _elementwise.square(self)

    def sub(self, other, alpha=1):
        return _elementwise.sub(self, other, alpha)

    def where(self, condition, other):
        """PyTorch's ``x.where(condition, y)``: x where condition holds, else y."""
        return _elementwise.where(condition, self, other)

    def multiply(self, other):
        return _elementwise.mul(self, other)

    def divide(self, other, rounding_mode=None):
        return _elementwise.div(self, other, rounding_mode)

    def subtract(self, other, alpha=1):
        return _elementwise.sub(self, other, alpha)

    def true_divide(self, other, rounding_mode=None):
        return _elementwise.div(self, other, rounding_mode)

    def negative(self):
        return _elementwise.neg(self)

    # ----------------------------------------------------------------- indexing
    def gather(self, dim, index):
        return _indexing.gather(self, dim, index)

    def index_select(self, dim, index):
        return _indexing.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        return _indexing.masked_fill(self, mask, value)

    def nonzero(self, as_tuple=False):
        return _elementwise.nonzero(self, as_tuple)

    def masked_select(self, mask):
        return _scatter.masked_select(self, mask)

    def scatter(self, dim, index, src=None, value=None, reduce=None):
        return _scatter.scatter(self, dim, index, src, value, reduce)

    def scatter_(self, *args, **kwargs):
        return _scatter.scatter_(self, *args, **kwargs)

    def scatter_add(self, dim, index, src):
        return _scatter.scatter_add(self, dim, index, src)

    def scatter_add_(self, *args, **kwargs):
        return _scatter.scatter_add_(self, *args, **kwargs)

    def index_add(self, dim, index, source, alpha=1):
        return _scatter.index_add(self, dim, index, source, alpha)

    def index_add_(self, *args, **kwargs):
        return _scatter.index_add_(self, *args, **kwargs)

    def index_fill(self, dim, index, value):
        return _scatter.index_fill(self, dim, index, value)

    def index_fill_(self, *args, **kwargs):
        return _scatter.index_fill_(self, *args, **kwargs)

    def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
        return _scatter_reduce.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    def scatter_reduce_(self, *args, **kwargs):
        return _scatter_reduce.scatter_reduce_(self, *args, **kwargs)

    def index_copy(self, dim, index, source):
        return _scatter_reduce.index_copy(self, dim, index, source)

    def index_copy_(self, *args, **kwargs):
        return _scatter_reduce.index_copy_(self, *args, **kwargs)

    # ----------------------------------------------------------------- pointwise conveniences
    def addcmul(self, tensor1, tensor2, *, value=1):
        return _addc.addcmul(self, tensor1, tensor2, value=value)

    def addcmul_(self, *args, **kwargs):
        return _addc.addcmul_(self, *args, **kwargs)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return _addc.addcdiv(self, tensor1, tensor2, value=value)

    def addcdiv_(self, *args, **kwargs):
        return _addc.addcdiv_(self, *args, **kwargs)

    def reciprocal(self):
        return _addc.reciprocal(self)

    def remainder(self, other):
        return _elementwise.remainder(self, other)

    def floor_divide(self, other):
        return _elementwise.floor_divide(self, other)

    def count_nonzero(self, dim=None, *dims):
        return _counting.count_nonzero(self, (dim,) + dims if dims else dim)

    def argwhere(self):
        return _counting.argwhere(self)

    def histc(self, bins=100, min=0, max=0):
        return _counting.histc(self, bins, min, max)

    def bincount(self, weights=None, minlength=0):
        return _counting.bincount(self, weights, minlength)

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        return _counting.unique(self, sorted, return_inverse, return_counts, dim)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _counting.isclose(self, other, rtol, atol, equal_nan)

    @property
    def itemsize(self):
        return self.array.dtype.itemsize

    @property
    def nbytes(self):
        return self.array.nbytes

    def exp_(self):
        return _inplace_unary.exp_(self)

    def log_(self):
        return _inplace_unary.log_(self)

    def sqrt_(self):
        return _inplace_unary.sqrt_(self)

    def abs_(self):
        return _inplace_unary.abs_(self)

    def neg_(self):
        return _inplace_unary.neg_(self)

    def tanh_(self):
        return _inplace_unary.tanh_(self)

    def sigmoid_(self):
        return _inplace_unary.sigmoid_(self)

    def reciprocal_(self):
        return _inplace_unary.reciprocal_(self)

    # ----------------------------------------------------------------- activation
    def relu(self):
        return _activation.relu(self)

    def sigmoid(self):
        return _activation.sigmoid(self)

    def tanh(self):
        return _activation.tanh(self)

    def softmax(self, dim=None, dtype=None):
        return _activation.softmax(self, dim, dtype)

    def log_softmax(self, dim=None, dtype=None):
        return _activation.log_softmax(self, dim, dtype)

    # ----------------------------------------------------------------- linalg
    def matmul(self, other):
        return _linalg.matmul(self, other)

    def mm(self, mat2):
        return _linalg.mm(self, mat2)

    def bmm(self, mat2):
        return _linalg.bmm(self, mat2)

    def dot(self, other):
        return _linalg.dot(self, other)

    def outer(self, vec2):
        return _linalg.outer(self, vec2)

    # ----------------------------------------------------------------- reduction
    def all(self, dim=None, keepdim=False):
        return _reduction.all(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return _reduction.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return _reduction.amin(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return _reduction.any(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return _reduction.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _reduction.argmin(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return _reduction.max(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None, axis=None):
        return _reduction.mean(self, dim, keepdim, dtype, axis)

    def min(self, dim=None, keepdim=False):
        return _reduction.min(self, dim, keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        return _reduction.norm(self, p, dim, keepdim)

    def prod(self, dim=None, keepdim=False):
        return _reduction.prod(self, dim, keepdim)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return _reduction.std(self, dim, unbiased, keepdim, correction)

    def sum(self, dim=None, keepdim=False, dtype=None, axis=None):
        return _reduction.sum(self, dim, keepdim, dtype, axis)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return _reduction.var(self, dim, unbiased, keepdim, correction)

    # ----------------------------------------------------------------- shape
    def broadcast_to(self, shape):
        return _shape.broadcast_to(self, shape)

    def chunk(self, chunks, dim=0):
        return _shape.chunk(self, chunks, dim)

    def expand(self, *sizes):
        return _shape.expand(self, *sizes)

    def expand_as(self, other):
        return _shape.expand_as(self, other)

    def flatten(self, start_dim=0, end_dim=-1):
        return _shape.flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        return _shape.permute(self, *dims)

    def reshape(self, *shape):
        return _shape.reshape(self, *shape)

    def reshape_as(self, other):
        return _shape.reshape_as(self, other)

    def split(self, split_size_or_sections, dim=0):
        return _shape.split(self, split_size_or_sections, dim)

    def squeeze(self, dim=None, *dims):
        return _shape.squeeze(self, (dim,) + dims if dims else dim)

    def swapaxes(self, axis0, axis1):  # PyTorch's names here (swapdims and transpose say dim0, dim1)
        return _shape.swapaxes(self, axis0, axis1)

    def t(self):
        return _shape.t(self)

    def transpose(self, dim0, dim1):
        return _shape.transpose(self, dim0, dim1)

    def unbind(self, dim=0):
        return _shape.unbind(self, dim)

    def unflatten(self, dim, sizes):
        return _shape.unflatten(self, dim, sizes)

    def unsqueeze(self, dim):
        return _shape.unsqueeze(self, dim)

    def view(self, *shape):
        return _shape.view(self, *shape)

    def view_as(self, other):
        return _shape.view_as(self, other)

    # ----------------------------------------------------------------- inplace
    def add_(self, *args, **kwargs):
        return _inplace.add_(self, *args, **kwargs)

    def clamp_(self, *args, **kwargs):
        return _inplace.clamp_(self, *args, **kwargs)

    def copy_(self, *args, **kwargs):
        return _inplace.copy_(self, *args, **kwargs)

    def div_(self, *args, **kwargs):
        return _inplace.div_(self, *args, **kwargs)

    def fill_(self, *args, **kwargs):
        return _inplace.fill_(self, *args, **kwargs)

    def mul_(self, *args, **kwargs):
        return _inplace.mul_(self, *args, **kwargs)

    def pow_(self, *args, **kwargs):
        return _inplace.pow_(self, *args, **kwargs)

    def relu_(self, *args, **kwargs):
        return _inplace.relu_(self, *args, **kwargs)

    def sub_(self, *args, **kwargs):
        return _inplace.sub_(self, *args, **kwargs)

    def zero_(self, *args, **kwargs):
        return _inplace.zero_(self, *args, **kwargs)

    def masked_fill_(self, *args, **kwargs):
        return _inplace.masked_fill_(self, *args, **kwargs)

    def uniform_(self, *args, **kwargs):
        return _inplace.uniform_(self, *args, **kwargs)

    def normal_(self, *args, **kwargs):
        return _inplace.normal_(self, *args, **kwargs)

    # ----------------------------------------------------------------- trig, ordering, structure
    def sin(self):
        return _trig.sin(self)

    def cos(self):
        return _trig.cos(self)

    def tan(self):
        return _trig.tan(self)

    def atan(self):
        return _trig.atan(self)

    def arctan(self):
        return _trig.atan(self)

    def atan2(self, other):
        return _trig.atan2(self, other)

    def arctan2(self, other):
        return _trig.atan2(self, other)

    def sinh(self):
        return _trig.sinh(self)

    def cosh(self):
        return _trig.cosh(self)

    def expm1(self):
        return _trig.expm1(self)

    def log1p(self):
        return _trig.log1p(self)

    def log2(self):
        return _trig.log2(self)

    def log10(self):
        return _trig.log10(self)

    def exp2(self):
        return _trig.exp2(self)

    def positive(self):
        return _misc_math.positive(self)

    def sgn(self):
        return _misc_math.sgn(self)

    def msort(self):
        return _misc_math.msort(self)

    def asin(self):
        return _trig.asin(self)

    def acos(self):
        return _trig.acos(self)

    def asinh(self):
        return _trig.asinh(self)

    def acosh(self):
        return _trig.acosh(self)

    def atanh(self):
        return _trig.atanh(self)

    def arcsin(self):
        return _trig.arcsin(self)

    def arccos(self):
        return _trig.arccos(self)

    def arcsinh(self):
        return _trig.arcsinh(self)

    def arccosh(self):
        return _trig.arccosh(self)

    def arctanh(self):
        return _trig.arctanh(self)

    def tril(self, diagonal=0):
        return _triangular.tril(self, diagonal)

    def triu(self, diagonal=0):
        return _triangular.triu(self, diagonal)

    def diag(self, diagonal=0):
        return _triangular.diag(self, diagonal)

    def trace(self):
        return _triangular.trace(self)

    def narrow(self, dim, start, length):
        return _reorder.narrow(self, dim, start, length)

    def flip(self, *dims):  # x.flip(0, 1) and x.flip((0, 1)), as PyTorch's
        return _reorder.flip(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)

    def roll(self, shifts, dims=None):
        return _reorder.roll(self, shifts, dims)

    def repeat(self, *sizes):
        return _reorder.repeat(self, *sizes)

    def tile(self, *dims):
        return _reorder.tile(self, dims[0] if len(dims) == 1 and not isinstance(dims[0], int) else dims)

    def repeat_interleave(self, repeats, dim=None):
        return _reorder.repeat_interleave(self, repeats, dim)

    def sort(self, dim=-1, descending=False, stable=False):
        return _sorting.sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        return _sorting.argsort(self, dim, descending, stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return _sorting.topk(self, k, dim, largest, sorted)

    def cumsum(self, dim, dtype=None):
        return _scan.cumsum(self, dim, dtype)

    def cumprod(self, dim, dtype=None):
        return _scan.cumprod(self, dim, dtype)

    def logsumexp(self, dim, keepdim=False):
        return _scan.logsumexp(self, dim, keepdim)

    def lerp(self, end, weight):
        return _blend.lerp(self, end, weight)

    def addmm(self, mat1, mat2, beta=1, alpha=1):
        return _blend.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def erf(self):
        return _special.erf(self)

    def erfinv(self):
        return _special.erfinv(self)

    # ----------------------------------------------------------------- more math, reordering, statistics
    def diff(self, n=1, dim=-1, prepend=None, append=None):
        return _differences.diff(self, n, dim, prepend, append)

    def movedim(self, source, destination):
        return _differences.movedim(self, source, destination)

    def moveaxis(self, source, destination):
        return _differences.movedim(self, source, destination)

    def rot90(self, k=1, dims=(0, 1)):
        return _differences.rot90(self, k, dims)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        return _differences.diagonal(self, offset, dim1, dim2)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        return _sampling.multinomial(self, num_samples, replacement, generator=generator)

    def diag_embed(self, offset=0, dim1=-2, dim2=-1):
        return _differences.diag_embed(self, offset, dim1, dim2)

    def take_along_dim(self, indices, dim=None):
        return _differences.take_along_dim(self, indices, dim)

    def unfold(self, dimension, size, step):
        """Windows of ``size`` every ``step`` along ``dimension``, as a new last dim."""
        return _differences.unfold_dim(self, dimension, size, step)

    def fmod(self, other):
        return _misc_math.fmod(self, other)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _misc_math.nan_to_num(self, nan, posinf, neginf)

    def clamp_min(self, min):
        return _misc_math.clamp_min(self, min)

    def clamp_max(self, max):
        return _misc_math.clamp_max(self, max)

    def logaddexp(self, other):
        return _misc_math.logaddexp(self, other)

    def hypot(self, other):
        return _misc_math.hypot(self, other)

    def copysign(self, other):
        return _misc_math.copysign(self, other)

    def heaviside(self, values):
        return _misc_math.heaviside(self, values)

    def xlogy(self, other):
        return _misc_math.xlogy(self, other)

    def deg2rad(self):
        return _misc_math.deg2rad(self)

    def rad2deg(self):
        return _misc_math.rad2deg(self)

    def frac(self):
        return _misc_math.frac(self)

    def trunc(self):
        return _misc_math.trunc(self)

    def fix(self):
        return _misc_math.trunc(self)

    def signbit(self):
        return _misc_math.signbit(self)

    def logit(self, eps=None):
        return _misc_math.logit(self, eps)

    def sinc(self):
        return _misc_math.sinc(self)

    def kron(self, other):
        return _products.kron(self, other)

    def cross(self, other, dim=None):
        return _products.cross(self, other, dim)

    def median(self, dim=None, keepdim=False):
        return _quantiles.median(self, dim, keepdim)

    def nanmedian(self, dim=None, keepdim=False):
        return _quantiles.nanmedian(self, dim, keepdim)

    def mode(self, dim=-1, keepdim=False):
        return _quantiles.mode(self, dim, keepdim)

    def renorm(self, p, dim, maxnorm):
        return _paired.renorm(self, p, dim, maxnorm)

    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _quantiles.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _quantiles.nanquantile(self, q, dim, keepdim, interpolation=interpolation)

    def aminmax(self, *, dim=None, keepdim=False):
        return _paired.aminmax(self, dim=dim, keepdim=keepdim)

    def nansum(self, dim=None, keepdim=False, *, dtype=None):
        return _paired.nansum(self, dim, keepdim, dtype=dtype)

    def nanmean(self, dim=None, keepdim=False, *, dtype=None):
        return _paired.nanmean(self, dim, keepdim, dtype=dtype)

    def cummax(self, dim):
        return _paired.cummax(self, dim)

    def cummin(self, dim):
        return _paired.cummin(self, dim)

    def logcumsumexp(self, dim):
        return _paired.logcumsumexp(self, dim)

    def lerp_(self, end, weight):
        return _inplace_more.lerp_(self, end, weight)

    def clamp_min_(self, min):
        return _inplace_more.clamp_min_(self, min)

    def clamp_max_(self, max):
        return _inplace_more.clamp_max_(self, max)

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return _inplace_more.nan_to_num_(self, nan=nan, posinf=posinf, neginf=neginf)

    def index_put(self, indices, values, accumulate=False):
        return _inplace_more.index_put(self, indices, values, accumulate)

    def index_put_(self, indices, values, accumulate=False):
        return _inplace_more.index_put_(self, indices, values, accumulate)


    # ----------------------------------------------------------------- operators
    # Bound to the functions themselves where the arguments line up: an operator runs once
    # per op, and a delegate would add a Python call to each.
    __getitem__ = _indexing.getitem
    __setitem__ = _inplace.setitem
    __add__ = __radd__ = _elementwise.add
    __sub__ = _elementwise.sub
    __mul__ = __rmul__ = _elementwise.mul
    __truediv__ = _elementwise.div
    __pow__ = _elementwise.pow
    __matmul__ = _linalg.matmul
    __neg__ = _elementwise.neg
    __abs__ = _elementwise.abs
    __eq__, __ne__, __lt__ = _elementwise.eq_operator, _elementwise.ne_operator, _elementwise.lt
    __le__, __gt__, __ge__ = _elementwise.le, _elementwise.gt, _elementwise.ge
    __and__ = __rand__ = _elementwise.bitwise_and
    __or__ = __ror__ = _elementwise.bitwise_or
    __xor__ = __rxor__ = _elementwise.bitwise_xor
    __invert__ = _elementwise.bitwise_not
    __lshift__ = _elementwise.bitwise_left_shift
    __rshift__ = _elementwise.bitwise_right_shift

    def bitwise_and(self, other):
        return _elementwise.bitwise_and(self, other)

    def bitwise_or(self, other):
        return _elementwise.bitwise_or(self, other)

    def bitwise_xor(self, other):
        return _elementwise.bitwise_xor(self, other)

    def bitwise_not(self):
        return _elementwise.bitwise_not(self)

    def bitwise_left_shift(self, other):
        return _elementwise.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other):
        return _elementwise.bitwise_right_shift(self, other)
    __floordiv__ = _elementwise.floor_divide
    __mod__ = _elementwise.remainder

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        if self.ndim == 0:  # PyTorch (deprecated): the identity on a 0-d tensor
            return self
        return self.transpose(-2, -1)

    def __rsub__(self, other):
        return _elementwise.sub(other, self)

    def __rtruediv__(self, other):
        return _elementwise.div(other, self)

    def __rfloordiv__(self, other):
        return _elementwise.floor_divide(other, self)

    def __rmod__(self, other):
        return _elementwise.remainder(other, self)

    def __rpow__(self, other):
        return _elementwise.pow(other, self)

    def __rmatmul__(self, other):
        return _linalg.matmul(other, self)

    def __pos__(self):
        return self

    def __iadd__(self, other):
        return _inplace.add_(self, other)

    def __isub__(self, other):
        return _inplace.sub_(self, other)

    def __imul__(self, other):
        return _inplace.mul_(self, other)

    def __itruediv__(self, other):
        return _inplace.div_(self, other)

    # ----------------------------------------------------------------- python protocol
    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self.array.size} elements is ambiguous")
        return bool(self.array.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __format__(self, spec):
        # as PyTorch's: a 0-d tensor formats as its number (f"{loss:.2f}", and f"{loss}" gives
        # 56.0); other tensors only with an empty spec, as their str
        if self.array.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self):
        values = numpy.asarray(self.__array__())
        body = numpy.array2string(values, separator=", ", precision=4, prefix="tensor(", max_line_width=80,
                                  formatter={"float_kind": _float_format(values)} if values.dtype.kind == "f" else None)
        extra = ""
        if self.array.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool):
            extra += f", dtype={self.array.dtype}"
        if self.is_cuda:
            extra += f", device='{self.device}'"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{self.grad_fn.name}Backward>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __getstate__(self):
        raise TypeError("distgrad tensors are not pickled; use distgrad.save / distgrad.load")

    def __deepcopy__(self, memo):
        """copy.deepcopy (of a model, say): a leaf with its own copy of the data and grad."""
        if self.grad_fn is not None:
            raise RuntimeError("only leaf tensors support deepcopy; use .detach().clone() on this result")
        if id(self) not in memo:
            copied = _new(Tensor if type(self) is TensorView else type(self))  # a Parameter stays a Parameter
            copied._init(self.array.copy(), self.requires_grad, None)
            if self.grad is not None:
                copied.grad = Tensor._wrap(self.grad.array.copy())
            memo[id(self)] = copied
        return memo[id(self)]


class TensorView(Tensor):
    """A view made in grad mode: its grad_fn and requires_grad follow in-place changes of its
    base, re-derived when read (autograd/views.py)."""

    __slots__ = ("_view",)

    grad_fn = property(_views.view_grad_fn, _views._grad_fn_slot.__set__)
    requires_grad = property(_views.view_requires_grad, _views._requires_grad_slot.__set__)


class Size(tuple):
    """The shape of a tensor: a tuple, as torch.Size is."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"Size({list(self)})"


# PyTorch's legacy tensor type names (Tensor.type('torch.FloatTensor')) and their dtypes
_LEGACY_TYPES = {"FloatTensor": dtypes.float32, "DoubleTensor": dtypes.float64, "HalfTensor": dtypes.float16,
                 "LongTensor": dtypes.int64, "IntTensor": dtypes.int32, "ShortTensor": dtypes.int16,
                 "CharTensor": dtypes.int8, "ByteTensor": dtypes.uint8, "BoolTensor": dtypes.bool}


class _RemovableHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _float_format(values):
    """PyTorch's printing of floats: whole numbers as ``56.``, others with 4 decimals, in
    scientific notation (4 digits) when the magnitudes span over 1000x or pass 1e8 or fall
    under 1e-4; every element padded to the finite ones' width."""
    finite = values[numpy.isfinite(values)].astype(numpy.float64)
    nonzero = numpy.abs(finite[finite != 0])
    top, bottom = (nonzero.max(), nonzero.min()) if nonzero.size else (0.0, 0.0)
    if (finite == numpy.ceil(finite)).all():
        spec = ".4e" if top > 1e8 else None
    else:
        spec = ".4e" if top > 1e8 or bottom < 1e-4 or top / bottom > 1000 else ".4f"

    def text(v):
        if not numpy.isfinite(v):
            return str(float(v))
        return format(float(v), spec) if spec else format(float(v), ".0f") + "."
    width = max((len(text(v)) for v in finite[:1000]), default=0)  # NaN and inf do not widen the rest
    return lambda v: text(v).rjust(width)


def _is_dtype_name(arg):
    if not isinstance(arg, str):
        return False
    return arg not in ("cpu", "cuda") and not arg.startswith("cuda:")


def _to_array(data, dtype):
    """Convert user data to an array with PyTorch's default dtypes (float32 / int64)."""
    if isinstance(data, TensorBase):
        array = data.array
        return array if dtype is None else array.astype(dtype)
    if is_gpu_array(data):
        return data if dtype is None else data.astype(dtype)
    if isinstance(data, (numpy.ndarray, numpy.generic)) or _all_numpy(data):
        # NumPy data keeps its dtype (PyTorch's rule); only Python numbers get the defaults
        array = numpy.array(data) if dtype is None else numpy.asarray(data).astype(dtype)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"tensor(): can't convert a NumPy array of dtype {array.dtype} to a tensor")
        return array
    array = numpy.array(_unwrap_nested(data))
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind == "f":
        return array.astype(dtypes.get_default_dtype(), copy=False)
    if array.dtype.kind in "iu":
        return array.astype(dtypes.int64, copy=False)
    if array.dtype.kind not in "b":
        raise TypeError(f"tensor(): can't convert data of type {type(data).__name__} "
                        f"(NumPy dtype {array.dtype}) to a tensor")
    return array


def _all_numpy(data):
    """A non-empty list or tuple of NumPy arrays and scalars only."""
    return (isinstance(data, (list, tuple)) and len(data) > 0
            and all(isinstance(d, (numpy.ndarray, numpy.generic)) for d in data))


def _unwrap_nested(data):
    if isinstance(data, Tensor):
        return data.__array__()
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(d) for d in data]
    return data


_new = object.__new__
_generic = numpy.generic
