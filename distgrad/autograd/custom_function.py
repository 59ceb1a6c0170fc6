"""Custom autograd Functions written as in PyTorch, on Tensors:

    class Cube(distgrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 3 * grad * x ** 2

    y = Cube.apply(x)

``apply`` runs ``forward`` under no_grad and records one node (``CubeBackward``) whose backward
wraps the output gradients as Tensors, calls the user's ``backward`` under no_grad, checks
what it returned and hands the arrays to the engine. A subclass written against distgrad's
own protocol (``forward(self, xp, *arrays)``, see distgrad/function.py) still works: ``apply``
tells the two apart by whether ``forward`` is a staticmethod.
"""
import functools
import inspect

from ..backend import get_array_module
from ..function import Function as _Node
from ..function import _new, _state, no_grad
from ..tensor_base import TensorBase


class FunctionCtx:
    """The ``ctx`` that forward and backward receive; also holds whatever the user sets on it."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.to_save = ()
        self.non_differentiable = ()
        self.dirty_tensors = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, TensorBase):
                raise TypeError(f"save_for_backward can only save tensors (or None), got {type(t).__name__}; "
                                "keep other values as attributes of ctx (ctx.value = ...)")
        self.to_save = tensors

    @property
    def saved_tensors(self):
        return tuple(self.to_save)

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = tensors

    def mark_dirty(self, *tensors):
        self.dirty_tensors = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


def once_differentiable(backward):
    """PyTorch's decorator for a backward that is not itself differentiable. distgrad's backward
    builds no graph anyway: it runs ``backward`` under no_grad."""
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            return backward(ctx, *grads)
    return wrapper


class Function(_Node):
    """Base class of custom autograd Functions (PyTorch's ``torch.autograd.Function``)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a custom Function must define forward(ctx, *args) as a @staticmethod")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not overridden")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a custom Function must define backward(ctx, *grad_outputs) as a "
                                  "@staticmethod to be differentiated")

    @classmethod
    def apply(cls, *args, **kwargs):
        style = cls.__dict__.get("_apply_style")
        if style is None:
            style = _style(cls)
            cls._apply_style = style
        if style == "internal":
            return super().apply(*args, **kwargs)
        return _apply(cls, style == "setup_context", args, kwargs)


def _style(cls):
    """How ``cls.apply`` runs: "internal", "ctx" (forward(ctx, ...)) or "setup_context"."""
    if not isinstance(inspect.getattr_static(cls, "forward"), staticmethod):
        return "internal"  # distgrad's own protocol: forward(self, xp, *arrays)
    custom = inspect.getattr_static(cls, "setup_context") is not Function.__dict__["setup_context"]
    return "setup_context" if custom else "ctx"


def _apply(cls, separate_setup, args, kwargs):
    tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, TensorBase)]
    record = _state.enabled and any(t.requires_grad for _, t in tensors)
    ctx = FunctionCtx(tuple(isinstance(a, TensorBase) and a.requires_grad and record for a in args))
    with no_grad():
        if separate_setup:
            outputs = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, outputs)
        else:
            outputs = cls.forward(ctx, *args, **kwargs)
    single = not isinstance(outputs, tuple)
    outs = (outputs,) if single else outputs
    if not record:
        return outputs
    node = _new(_CustomNode)
    node.cls, node.ctx, node.n_args = cls, ctx, len(args)
    node.arg_index = [i for i, _ in tensors]
    node.inputs = [t for _, t in tensors]
    node.needs_grad = tuple(t.requires_grad for t in node.inputs)
    node.edges = [t.grad_fn for t in node.inputs]
    results = _connect(node, cls, ctx, outs)
    # Saved tensors are checked for in-place changes after the forward (PyTorch's rule).
    node._versions = [(t._version, t._version[0]) for t in ctx.to_save if t is not None]
    return results[0] if single else tuple(results)


def _connect(node, cls, ctx, outs):
    """The outputs the caller gets: differentiable ones carry ``node`` (directly when there is
    one; through a _Select each when there are several), the others require no grad."""
    non_diff = {id(t) for t in ctx.non_differentiable}
    dirty = {id(t) for t in ctx.dirty_tensors}
    results, diff = [], []
    for k, out in enumerate(outs):
        if not isinstance(out, TensorBase):
            results.append(out)  # non-tensor outputs pass through
            continue
        if id(out) in dirty:
            if out.requires_grad and out.grad_fn is None:
                raise RuntimeError(f"{cls.__name__}: a leaf tensor that requires grad was modified in place "
                                   "(mark_dirty) in forward; clone it before passing it in")
            if getattr(out, "_view", None) is not None:  # its grad_fn is re-derived from its base
                raise NotImplementedError(f"{cls.__name__}: mark_dirty on a view (a slice, reshape, ...) is not "
                                          "supported; apply the Function to the base tensor or to a clone")
            result = out
        else:  # a new tensor sharing the data and version counter (out may be an input, or a view)
            result = out.detach()
        if id(out) in non_diff or result.array.dtype.kind not in "fc":
            if id(out) in dirty:
                result.requires_grad, result.grad_fn = False, None
            results.append(result)
        else:
            diff.append((k, result))
            results.append(result)
    if not diff:
        return results  # nothing to differentiate: no node
    node.out_meta = [(r.array.shape, r.array.dtype) if isinstance(r, TensorBase) else None for r in results]
    node.diff = [k for k, _ in diff]
    node._like = diff[0][1]
    if len(diff) == 1:
        k, result = diff[0]
        node.out_shape = result.array.shape
        result.requires_grad, result.grad_fn = True, node
        return results
    # Several differentiable outputs: the node's one output is their gradients packed flat.
    xp = get_array_module(node._like.array)
    sizes = [r.array.size for _, r in diff]
    dtype = xp.result_type(*[r.array.dtype for _, r in diff])
    node.pack = (sizes, dtype)
    node.out_shape = (sum(sizes),)
    node.received = [False] * len(diff)
    packed = node._like._wrap(xp.empty(0, dtype=dtype), True, node)  # stands for the packed output
    offset = 0
    for j, ((k, result), size) in enumerate(zip(diff, sizes)):
        select = _new(_Select)
        select.inputs, select.edges, select.needs_grad = [packed], [node], (True,)
        select.main, select.slot, select.span = node, j, (offset, offset + size)
        select.out_shape = result.array.shape
        result.requires_grad, result.grad_fn = True, select
        offset += size
    return results


class _Select(_Node):
    """One output of a custom Function with several: its gradient into the packed gradient."""

    def backward(self, xp, grad):
        sizes, dtype = self.main.pack
        packed = xp.zeros(sum(sizes), dtype=dtype)
        start, stop = self.span
        packed[start:stop] = grad.ravel()
        self.main.received[self.slot] = True
        return (packed,)

    @property
    def name(self):
        return self.main.name

    def release(self):
        main = self.main
        super().release()
        self.main = main  # for the name in a second backward's error


class _CustomNode(_Node):
    """The graph node of one call of a custom Function."""

    pack = None

    @property
    def name(self):
        return f"{self.cls.__name__}Backward"

    def release(self):
        cls = self.cls
        super().release()
        self.cls = cls  # for the name in a second backward's error

    def backward(self, xp, grad):
        grads = self._output_grads(xp, grad)
        with no_grad():
            returned = self.cls.backward(self.ctx, *grads)
        return self._input_grads(xp, returned)

    def _output_grads(self, xp, grad):
        """One Tensor (or None) per forward output, as PyTorch's backward receives them."""
        like, ctx = self._like, self.ctx
        out = [None if meta is None or not ctx.materialize_grads else like._wrap(xp.zeros(*meta))
               for meta in self.out_meta]
        if self.pack is None:
            out[self.diff[0]] = like._wrap(grad)
            return out
        sizes, _ = self.pack
        offset = 0
        for j, (k, size) in enumerate(zip(self.diff, sizes)):
            shape, dtype = self.out_meta[k]
            if self.received[j] or ctx.materialize_grads:
                out[k] = like._wrap(grad[offset:offset + size].reshape(shape).astype(dtype, copy=False))
            offset += size
        self.received = [False] * len(sizes)
        return out

    def _input_grads(self, xp, returned):
        """The arrays the engine wants, one per tensor input, checked as PyTorch checks them."""
        returned = returned if isinstance(returned, tuple) else (returned,)
        n = self.n_args
        if len(returned) < n or any(g is not None for g in returned[n:]):
            raise RuntimeError(f"{self.name}: backward returned an incorrect number of gradients "
                               f"(expected {n}, got {len(returned)}); return one per forward argument, "
                               "None for those that need no gradient")
        tensor_args = set(self.arg_index)
        for i, g in enumerate(returned[:n]):
            if g is not None and i not in tensor_args:
                raise RuntimeError(f"{self.name}: backward returned a gradient different than None at position "
                                   f"{i}, but the corresponding forward input was not a Tensor; return None there")
        grads = []
        for i, t, needed in zip(self.arg_index, self.inputs, self.needs_grad):
            g = returned[i]
            if g is None or not needed:
                grads.append(None)
                continue
            if not isinstance(g, TensorBase):
                raise RuntimeError(f"{self.name}: backward returned a {type(g).__name__} at position {i}; "
                                "gradients must be Tensors or None")
            grads.append(_fit(self.name, i, g, t))
        return tuple(grads)


def _fit(name, i, g, t):
    """``g`` as the gradient array of input ``t``: summed down to its shape when ``t``'s shape
    broadcasts to ``g``'s (as PyTorch allows), in its dtype."""
    shape = t.array.shape
    if g.array.shape != shape:
        if not _expandable(shape, g.array.shape):
            raise RuntimeError(f"{name}: backward returned an invalid gradient at index {i}: got shape "
                               f"{tuple(g.array.shape)} but expected shape compatible with {tuple(shape)}; "
                               "return a gradient of the input's shape")
        lead = g.ndim - len(shape)
        dims = tuple(range(lead)) + tuple(d + lead for d, s in enumerate(shape)
                                          if s == 1 and g.shape[d + lead] != 1)
        with no_grad():
            g = g.sum(dims, keepdim=True).reshape(shape) if dims else g.reshape(shape)
    array = g.array
    return array if array.dtype == t.array.dtype else array.astype(t.array.dtype)


def _expandable(shape, target):
    if len(shape) > len(target):
        return False
    return all(s == d or s == 1 for s, d in zip(shape[::-1], target[::-1]))
