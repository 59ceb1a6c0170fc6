"""Tensor: an n-dimensional array (NumPy or CuPy) that can record how it was computed."""
import numpy

from . import dtypes
from .backend import device as Device, device_of, get_array_module, is_gpu_array, move
from . import function as _function
from .function import is_grad_enabled


class Tensor:
    __slots__ = ("array", "requires_grad", "grad", "grad_fn", "_version", "_hooks",
                 "_post_hooks", "name", "__weakref__")

    # Make NumPy defer to our reflected operators (ndarray * Tensor -> Tensor.__rmul__).
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        array = _to_array(data, dtypes.to_dtype(dtype))
        if device is not None:
            array = move(array, device)
        self._init(array, False, None)
        if requires_grad:
            self.requires_grad_(True)

    def _init(self, array, requires_grad, grad_fn):
        self.array = array
        self.requires_grad = requires_grad
        self.grad = None
        self.grad_fn = grad_fn
        self._version = [0]  # shared with views; bumped by in-place ops
        self._hooks = None
        self._post_hooks = None
        self.name = None

    @classmethod
    def _wrap(cls, array, requires_grad=False, grad_fn=None):
        """Fast constructor for arrays the library made itself (no conversion, no checks)."""
        if isinstance(array, _generic):  # NumPy ops on 0-d arrays return scalars
            array = numpy.asarray(array)
        t = _new(cls)
        # Inlined _init: this runs once per op.
        t.array = array
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        t._version = [0]
        t._hooks = t._post_hooks = t.name = None
        return t

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
        _run_backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph,
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
            out = _ops.cast(out, numpy.dtype(dtype))
        if device is not None and Device(device) != out.device:
            out = _ops.to_device(out, Device(device))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else Device(device if not isinstance(device, int) else f"cuda:{device}"))

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype)

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

    def contiguous(self):
        return self

    def is_contiguous(self):
        return bool(self.array.flags.c_contiguous)

    def clone(self):
        return _ops.clone(self)

    def new_tensor(self, data, dtype=None, requires_grad=False):
        return Tensor(data, dtype=dtype or self.dtype, device=self.device, requires_grad=requires_grad)

    def new_zeros(self, *shape, dtype=None):
        return Tensor._wrap(self.xp.zeros(_shape_arg(shape), dtype=dtype or self.dtype))

    def new_ones(self, *shape, dtype=None):
        return Tensor._wrap(self.xp.ones(_shape_arg(shape), dtype=dtype or self.dtype))

    def new_full(self, shape, value, dtype=None):
        return Tensor._wrap(self.xp.full(_shape_arg((shape,)), value, dtype=dtype or self.dtype))

    def new_empty(self, *shape, dtype=None):
        return Tensor._wrap(self.xp.empty(_shape_arg(shape), dtype=dtype or self.dtype))

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

    def __repr__(self):
        body = numpy.array2string(numpy.asarray(self.__array__()), separator=", ", precision=4,
                                  prefix="tensor(")
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
            copied = type(self)._wrap(self.array.copy(), self.requires_grad)
            if self.grad is not None:
                copied.grad = Tensor._wrap(self.grad.array.copy())
            memo[id(self)] = copied
        return memo[id(self)]


class Size(tuple):
    """The shape of a tensor: a tuple, as torch.Size is."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"Size({list(self)})"


class _RemovableHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _is_dtype_name(arg):
    if not isinstance(arg, str):
        return False
    return arg not in ("cpu", "cuda") and not arg.startswith("cuda:")


def _shape_arg(shape):
    """Accept f(2, 3), f((2, 3)) and f([2, 3])."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def _to_array(data, dtype):
    """Convert user data to an array with PyTorch's default dtypes (float32 / int64)."""
    if isinstance(data, Tensor):
        array = data.array
        return array if dtype is None else array.astype(dtype)
    if is_gpu_array(data):
        return data if dtype is None else data.astype(dtype)
    if isinstance(data, numpy.ndarray):
        return data.copy() if dtype is None else data.astype(dtype)
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


def _unwrap_nested(data):
    if isinstance(data, Tensor):
        return data.__array__()
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(d) for d in data]
    return data


_new = object.__new__
_generic = numpy.generic
_function._wrap = Tensor._wrap

from . import ops as _ops  # noqa: E402  (ops need Tensor defined first)
from .autograd.engine import run_backward as _run_backward  # noqa: E402  (so does the engine)
