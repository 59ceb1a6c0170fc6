"""A NumPy-backed stand-in for CuPy, so that the GPU path runs on a machine without a GPU
(test_gpu_path_on_fake_cupy.py). Arrays are wrapped: like CuPy's, they refuse implicit
conversion to NumPy and refuse NumPy arrays as operands, so a silent host/device mix fails.
No CUDA kernel runs (no_kernels.py routes around the fused ones), except with
DISTGRAD_FAKE_CUPY_CPU_KERNELS=1: elementwise kernels then run compiled for the CPU
(_cpu_elementwise.py, cpu_kernels.py). Not a complete CuPy.

``observer`` (None unless benchmarks/gpu_launches.py or a test sets one) is told of each
device->host read (``synced``: .get(), .item(), .tolist(), bool(), float(), int(), index use)
and of each call that would launch a kernel on a GPU (``launched``: an operator, a ufunc, a
reduction, a matmul, a copy; a call whose result is a view of an operand, or an allocation
without a fill, launches none)."""
import operator
import os as _os
import sys
import time as _time
import types
import weakref

import numpy as _np

__version__ = "0.0-fake"


class _Device:
    def __init__(self, id=0):
        self.id = int(id or 0)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass

    def use(self):
        pass

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return self.id

    def __repr__(self):  # CuPy's; distgrad keys its caches of constants by it
        return "<CUDA Device %d>" % self.id


class _Ptr:
    def __init__(self, a):
        self.ptr = a.ctypes.data


def _unwrap(x, strict=True):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _np.ndarray) and strict:
        raise TypeError(f"Unsupported type {type(x)}")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(i, strict) for i in x)
    if isinstance(x, dict):
        return {k: _unwrap(v, strict) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, _np.ndarray):
        return ndarray(x)
    if isinstance(x, _np.generic):
        return ndarray(_np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(i) for i in x)
    if isinstance(x, list):
        return [_wrap(i) for i in x]
    return x


observer = None
# calls that allocate or read metadata only: no kernel on a GPU
_NO_KERNEL = frozenset({"empty", "empty_like", "result_type", "broadcast_shapes", "shape", "ndim", "isscalar",
                        "can_cast", "promote_types", "dtype", "iinfo", "finfo", "get_array_module", "view"})


def _synced(what):
    if observer is not None:
        observer.synced(what)


def _launched(what):
    if observer is not None:
        observer.launched(what)


def _arrays_in(values):
    for v in values:
        if isinstance(v, _np.ndarray):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _arrays_in(v)


def _observe_call(name, operands, result, wrote_out):
    """A kernel unless the call only allocates, reads metadata, or returns a view of an operand."""
    if name in _NO_KERNEL:
        return
    results = list(_arrays_in(result if isinstance(result, (list, tuple)) else (result,)))
    if not wrote_out and not results and not isinstance(result, _np.generic):
        return  # a Python value (a shape, a dtype): nothing ran on the device
    if results and all(any(_np.may_share_memory(r, a) for a in operands) for r in results):
        if not wrote_out:
            return  # a view
    _launched(name)


def _call(fn, strict=True, owner=None):
    name = getattr(fn, "__name__", "fn")
    is_ufunc = isinstance(fn, _np.ufunc)

    def call(*args, **kwargs):
        raw_args, raw_kwargs = _unwrap(args, strict), _unwrap(kwargs, strict)
        result = fn(*raw_args, **raw_kwargs)
        if observer is not None:
            operands = list(_arrays_in(raw_args)) + list(_arrays_in(raw_kwargs.values()))
            if owner is not None:
                operands.append(owner)
            # a ufunc always computes, also into an operand given as its out
            _observe_call(name, operands, result, is_ufunc or raw_kwargs.get("out") is not None)
        return _wrap(result)
    call.__name__ = name
    return call


# the first live wrapper of each NumPy array, so that ``view.base`` is one object, as in CuPy
# (a view's base is its owner itself: distgrad tells a view from a copy by ``out.base is owner``)
_owners = weakref.WeakValueDictionary()


class ndarray:
    __array_ufunc__ = None  # numpy_array + cupy_array: NumPy steps aside, and we refuse

    def __init__(self, a):
        self._a = a
        known = _owners.get(id(a))
        if known is None or known._a is not a:
            _owners[id(a)] = self

    @property
    def base(self):
        owner = self._a.base
        if owner is None:
            return None
        known = _owners.get(id(owner))
        return known if known is not None and known._a is owner else ndarray(owner)

    def __array__(self, *a, **k):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def __array_function__(self, func, types_, args, kwargs):
        fn = getattr(sys.modules[__name__], func.__name__, None)
        return NotImplemented if fn is None else fn(*args, **kwargs)

    shape = property(lambda s: s._a.shape)
    dtype = property(lambda s: s._a.dtype)
    ndim = property(lambda s: s._a.ndim)
    size = property(lambda s: s._a.size)
    itemsize = property(lambda s: s._a.itemsize)
    nbytes = property(lambda s: s._a.nbytes)
    strides = property(lambda s: s._a.strides)
    flags = property(lambda s: s._a.flags)
    T = property(lambda s: ndarray(s._a.T))
    device = property(lambda s: _Device(0))
    data = property(lambda s: _Ptr(s._a))

    def get(self, stream=None, out=None):
        _synced("get")
        if out is not None:
            out[...] = self._a
            return out
        return self._a.copy()

    def set(self, arr, stream=None):
        if not isinstance(arr, _np.ndarray):
            raise TypeError("set: expected a NumPy array")
        self._a[...] = arr

    def __getattr__(self, name):
        attr = getattr(self._a, name)
        if name in ("item", "tolist"):
            _synced(name)
        return _call(attr, strict=False, owner=self._a) if callable(attr) else _wrap(attr)

    def __getitem__(self, key):
        result = self._a[_unwrap(key, strict=False)]
        if observer is not None:
            _observe_call("getitem", [self._a], result, False)  # a gather unless basic indexing
        return _wrap(result)

    def __setitem__(self, key, value):
        _launched("setitem")
        self._a[_unwrap(key, strict=False)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(r) for r in self._a)

    def __bool__(self):
        _synced("bool")
        return bool(self._a)

    def __float__(self):
        _synced("float")
        return float(self._a)

    def __int__(self):
        _synced("int")
        return int(self._a)

    def __index__(self):
        _synced("index")
        return operator.index(self._a)

    def __repr__(self):
        return "fakecupy." + repr(self._a)

    __hash__ = None


def _binary(op):
    def method(self, other):
        _launched(op.__name__)
        return _wrap(op(self._a, _unwrap(other)))
    return method


def _reflected(op):
    def method(self, other):
        _launched(op.__name__)
        return _wrap(op(_unwrap(other), self._a))
    return method


def _inplace(op):
    def method(self, other):
        _launched(op.__name__)
        op(self._a, _unwrap(other))
        return self
    return method


def _unary(op):
    def method(self):
        _launched(op.__name__)
        return _wrap(op(self._a))
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    _op = getattr(operator, _name if _name not in ("and", "or") else _name + "_")
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _reflected(_op))
    setattr(ndarray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_name}__", _binary(getattr(operator, _name)))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", _unary(getattr(operator, _name)))


def _copied_to_device(a):
    if observer is not None:
        observer.copied_to_device(a)


def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or dtype == a.dtype else a.astype(dtype)
    _copied_to_device(a)
    return ndarray(_np.array(a, dtype=dtype))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(a, ndarray):
        _launched("array")
    else:
        _copied_to_device(a)
    return ndarray(_np.array(_unwrap(a, strict=False), dtype=dtype, ndmin=ndmin))


def indices(dimensions, dtype=int):
    """CuPy's indices has no ``sparse`` (found on a real card): the stand-in refuses it too."""
    return ndarray(_np.indices(dimensions, dtype=dtype))


def asnumpy(a, stream=None, out=None):
    return a.get(out=out) if isinstance(a, ndarray) else _np.asarray(a)


def ascontiguousarray(a, dtype=None):
    return _call(_np.ascontiguousarray)(a, dtype=dtype)


def __getattr__(name):
    attr = getattr(_np, name)
    if isinstance(attr, type) or not callable(attr):
        return attr
    return _call(attr)


# ----------------------------------------------------------------- cupy.cuda
class _Stream:
    ptr = 0

    def __init__(self, non_blocking=False):
        pass

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass

    def wait_event(self, event):
        pass


class _Event:
    def __init__(self, *a, **k):
        self.at = None

    def record(self, stream=None):
        self.at = _time.perf_counter()  # work runs at once here: host time is the device's

    def synchronize(self):
        pass


def _props(index):
    return {"name": b"Fake GPU (NumPy)", "totalGlobalMem": 1 << 30, "multiProcessorCount": 1}


runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, getDeviceProperties=_props,
                                runtimeGetVersion=lambda: 0, driverGetVersion=lambda: 0)


def _pinned(nbytes):
    return bytearray(nbytes)


class _Kernel:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        raise NotImplementedError("the fake CuPy runs no CUDA kernels")


def _elapsed_ms(start, end):
    return (end.at - start.at) * 1e3


cuda = types.SimpleNamespace(Device=_Device, runtime=runtime, get_current_stream=lambda: _Stream(),
                             get_elapsed_time=_elapsed_ms,
                             Stream=_Stream, Event=_Event, alloc_pinned_memory=_pinned,
                             get_device_id=lambda: 0)
ElementwiseKernel = RawKernel = ReductionKernel = _Kernel
if _os.environ.get("DISTGRAD_FAKE_CUPY_CPU_KERNELS"):  # elementwise kernels compiled with g++ (cpu_kernels.py)
    from ._cpu_elementwise import ElementwiseKernel  # noqa: E402,F811


# ----------------------------------------------------------------- cupy.random
_rng = _np.random.default_rng(0)


def _seed(s=None):
    global _rng
    _rng = _np.random.default_rng(s)


def _r(name):
    def draw(*a, **k):
        _launched("random." + name)
        return _wrap(getattr(_rng, name)(*a, **k))
    return draw


random = types.SimpleNamespace(
    seed=_seed, random=_r("random"), standard_normal=_r("standard_normal"), normal=_r("normal"),
    uniform=_r("uniform"), permutation=_r("permutation"),
    randint=lambda low, high=None, size=None, dtype=int: _r("integers")(low, high, size=size, dtype=dtype))
lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_call(
    _np.lib.stride_tricks.as_strided)))
linalg = types.SimpleNamespace(qr=_call(_np.linalg.qr), norm=_call(_np.linalg.norm), inv=_call(_np.linalg.inv),
                               det=_call(_np.linalg.det), solve=_call(_np.linalg.solve), svd=_call(_np.linalg.svd),
                               cholesky=_call(_np.linalg.cholesky))  # distgrad.linalg's
