"""Function: one differentiable op, forward and backward written once against ``xp``.

A subclass implements ``forward(self, xp, *arrays, **params) -> array`` and
``backward(self, xp, grad) -> tuple`` (one entry per tensor input, None where that input
needs no gradient). Both work on raw arrays, so differentiating builds no graph.
``self.needs_grad[i]`` tells forward and backward which input gradients are wanted, so work
for inputs that need none (the training data, say) is skipped.
"""
import functools
import re
import threading

from numpy import ndarray as _ndarray

from .backend import get_array_module
from .errors import OpError, OpRuntimeError

class _GradState(threading.local):
    enabled = True  # each thread starts with gradients on; a class default reads faster than getattr


_state = _GradState()


def is_grad_enabled():
    return _state.enabled


class _GradMode:
    """Context manager and decorator that sets whether ops record the graph."""

    mode = True

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self.mode

    def __exit__(self, *exc):
        _state.enabled = self._prev

    def _clone(self):
        return self.__class__()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._clone():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    mode = False


class enable_grad(_GradMode):
    mode = True


class set_grad_enabled(_GradMode):
    """As PyTorch's: a call sets the mode at once; as a context manager or decorator the mode
    before it comes back on exit."""

    def __init__(self, mode):
        self.mode, self._prev = bool(mode), _state.enabled
        _state.enabled = self.mode

    def __enter__(self):  # the mode before the call, not this one, comes back on exit
        _state.enabled = self.mode

    def __call__(self, fn):
        _state.enabled = self._prev  # decorating does not change the mode
        return super().__call__(fn)

    def _clone(self):
        return self.__class__(self.mode)


class Function:
    # Set by subclasses whose backward reads the inputs' or the output's values, so that an
    # in-place change of those tensors after the forward is caught instead of silently
    # giving a wrong gradient. ``saves_inputs`` is True (every input is read) or, per input,
    # the indices of the inputs its gradient reads (Mul: ((1,), (0,))): then only inputs read
    # by a wanted gradient are watched, and changing another one in place is allowed, as in
    # PyTorch (``y = x * 2; x.add_(1)`` still differentiates).
    saves_inputs = False
    saves_output = False
    # Set by ops whose output shares memory with the first input (reshape, transpose, basic
    # indexing): the output is a view (Tensor._wrap_view) and shares the input's version
    # counter, so an in-place change through either is seen by both (autograd/views.py).
    is_view = False
    # Set by view ops whose output has elements sharing memory (expand): no in-place op
    # through such a view is differentiable.
    overlapping = False

    hooks = None  # tensor hooks registered on this node's output (Tensor.register_hook)
    # What error messages call the op; by default the class name in snake_case (LogSoftmax:
    # log_softmax). Errors the array library raises in forward get it prefixed.
    op_name = None

    # (counter, version seen) per saved tensor, set by apply; a class default, not a slot, so
    # that nodes that save nothing skip a failing attribute lookup in every backward.
    _versions = ()

    # edges: each input's grad_fn when this node was recorded. Backward follows these, not the
    # inputs' grad_fn at backward time, which an in-place op may have moved on since.
    __slots__ = ("inputs", "edges", "needs_grad", "saved", "out_shape", "__dict__")

    @classmethod
    def apply(cls, *tensors, **params):
        """Run the forward on the tensors' arrays; record the node when a gradient is needed.

        This runs for every op, so it is written for speed: no per-call imports or
        generator expressions."""
        fn = _new(cls)
        arrays = [t.array for t in tensors]
        if len(arrays) > 1:
            _check_same_device(cls, tensors, arrays)
        needs = tuple([t.requires_grad for t in tensors])
        record = True in needs and _state.enabled
        # Set before the forward, so it can skip saving what no backward will read.
        fn.needs_grad = needs if record else (False,) * len(arrays)
        try:
            out = fn.forward(get_array_module(arrays[0]), *arrays, **params)
        except ValueError as e:  # costs nothing unless raised
            named = named_error(op_label(cls), arrays, e)
            if named is e:
                raise
            raise named from None
        if not record:
            if cls.is_view:
                return tensors[0]._wrap_view(out, False, None, cls, params)
            return tensors[0]._wrap(out)
        if cls.is_view:
            result = tensors[0]._wrap_view(out, True, fn, cls, params)
        else:
            result = tensors[0]._wrap(out, True, fn)
        fn.inputs = tensors
        # Literal lists for one and two inputs: a comprehension costs a frame (0.3 vs 0.1 us, timeit).
        n = len(tensors)
        fn.edges = ([tensors[0].grad_fn] if n == 1 else [tensors[0].grad_fn, tensors[1].grad_fn] if n == 2
                    else [t.grad_fn for t in tensors])
        fn.out_shape = out.shape
        if cls.saves_inputs or cls.saves_output:
            saves = cls.saves_inputs
            if saves is True:
                versions = [(t._version, t._version[0]) for t in tensors]
            else:
                versions = [(tensors[i]._version, tensors[i]._version[0]) for i in _read_inputs(saves, needs)]
            if cls.saves_output:
                versions.append((result._version, 0))
            fn._versions = versions
        return result

    @property
    def name(self):
        return type(self).__name__

    def check_versions(self):
        for counter, seen in self._versions:
            if counter[0] != seen:
                raise RuntimeError(
                    f"one of the tensors needed for the gradient of {self.name} has been modified "
                    f"by an in-place operation (version {counter[0]}, expected {seen}); "
                    "use an out-of-place op or .clone() the tensor before changing it")

    def release(self):
        """Drop what backward needed; a second backward then gives a clear error."""
        self.inputs = self.edges = None
        self.saved = None
        self.__dict__.clear()

    def __repr__(self):
        return f"<{self.name}>"


def _read_inputs(reads, needs):
    """The inputs whose values the wanted gradients read (``reads``: Function.saves_inputs
    per input, or False). Memoized: a few (reads, needs) pairs cover a whole training run."""
    if not reads:
        return ()
    watched = _watched.get((reads, needs))
    if watched is None:
        watched = _watched[reads, needs] = tuple(sorted(
            {j for i, wanted in enumerate(needs) if wanted for j in reads[i]}))
    return watched


_watched = {}


def _check_same_device(cls, tensors, arrays):
    first = arrays[0]
    kind = type(first)
    for a in arrays[1:]:
        if type(a) is not kind or (kind is not _ndarray and a.device != first.device):
            devices = ", ".join(str(x.device) for x in tensors)
            raise OpRuntimeError(cls.__name__, f"expected all tensors on the same device, got {devices}; "
                                               "move them with .to(device) first")


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def op_label(cls):
    """What messages and the profiler call an op: ``op_name``, else the class name in snake_case."""
    return cls.op_name or _CAMEL.sub("_", cls.__name__).lower()


def named_error(op, arrays, error):
    """An error the array library raised inside a forward ("operands could not be broadcast
    together with shapes (2,3) (4,3)") names neither the op nor the tensors: say both. An
    OpError, which distgrad raised itself, already does and passes unchanged."""
    if isinstance(error, OpError):
        return error
    shapes = [str(tuple(a.shape)) for a in arrays]
    inputs = shapes[0] if len(shapes) == 1 else ", ".join(shapes[:-1]) + " and " + shapes[-1]
    kind = type(error)
    if kind.__module__ != "builtins":  # NumPy's UFuncTypeError takes other arguments: its built-in base
        kind = next(k for k in kind.__mro__ if k.__module__ == "builtins")
    return kind(f"{op}: inputs of shapes {inputs}: {error}")


_new = object.__new__
