"""The backward pass: iterative, in a fixed topological order, with per-leaf readiness.

Each Function runs once, after every consumer of its output has contributed its
gradient. Each leaf counts the edges that still owe it a gradient; when the count reaches
zero its gradient for this pass is final: hooks run, it is accumulated into ``.grad``, and
its post-accumulate hooks fire while the rest of backward continues. Data parallelism
starts communication from those hooks.
"""
import numpy

from ..backend import get_array_module
from ..tensor_base import TensorBase


class BackwardPass:
    """One run of the engine: tells backward passes apart (DDP's reducer notices the first
    gradient of each) and holds the callbacks to run when it has finished."""

    __slots__ = ("end_callbacks",)

    def __init__(self):
        self.end_callbacks = []


_running = None  # the BackwardPass running now; None outside backward and in its end callbacks
# Set by distgrad.profiler while it records: (fn, grad) -> fn's input gradients, timed. Read
# once per pass, so without a profiler a node costs one branch on a local.
backward_timer = None


def current_backward():
    """The BackwardPass running now, or None outside backward."""
    return _running


def on_backward_end(callback):
    """Run ``callback()`` once the backward that is running now has finished, after every
    gradient is accumulated (PyTorch's ``Variable._execution_engine.queue_callback``).
    Data parallelism waits for its last all-reduce there."""
    if _running is None:
        raise RuntimeError("on_backward_end (queue_callback) can only be called while a backward "
                           "is running (from a gradient hook)")
    _running.end_callbacks.append(callback)


queue_callback = on_backward_end  # the PyTorch name


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None,
                 accumulate=True, allow_unused=False):
    """Differentiate ``roots``. Without ``inputs``: accumulate into every leaf's ``.grad``
    (``Tensor.backward``). With ``inputs``: only their gradients count; they are accumulated
    into those tensors' ``.grad`` or, with ``accumulate=False``, returned (``autograd.grad``).
    Callbacks queued during it (``on_backward_end``) run at the end."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported: "
                                  "backward works on raw arrays and builds no graph")
    global _running
    outer = _running
    this = _running = BackwardPass()
    try:
        # Gradient formulas pick their values at the edges (x = 0, inf, NaN) with where(), which
        # evaluates both branches: NumPy's warnings about the branch not taken would be noise.
        with numpy.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if inputs is None:
                _propagate(roots, root_grads, retain_graph, _finish_leaf)
                result = None
            else:
                result = _gradients_of(inputs, roots, root_grads, retain_graph, accumulate, allow_unused)
        _running = None  # a callback may itself run a backward
        for callback in this.end_callbacks:
            callback()
        return result
    finally:
        _running = outer


def backward_within_pass(roots, root_grads, keep=()):
    """Differentiate the graph behind ``roots`` now, as part of the backward that is running
    (for a node that rebuilds its graph during backward, as activation checkpointing does).

    Every leaf reached is finished as in ``Tensor.backward``: its hooks run, its gradient is
    accumulated into ``.grad`` and its post-accumulate hooks fire (DDP's reducer starts its
    all-reduces there). The leaves in ``keep`` are the exception: their gradients are returned
    instead, as arrays in ``keep``'s order (None for one no gradient reached), without hooks.
    No new pass begins, so end-of-backward callbacks stay those of the running pass. The
    graph is freed as it is walked."""
    kept = {id(t): i for i, t in enumerate(keep)}
    result = [None] * len(kept)

    def finish_leaf(leaf, grad):
        i = kept.get(id(leaf))
        if i is None:
            _finish_leaf(leaf, grad)
        else:
            result[i] = grad if result[i] is None else result[i] + grad

    _propagate(roots, root_grads, False, finish_leaf)
    return result


def _gradients_of(inputs, roots, root_grads, retain_graph, accumulate, allow_unused):
    """Backward that keeps only the gradients of ``inputs`` (leaves or not): accumulated into
    their ``.grad`` (``backward(inputs=...)``) or returned as Tensors (``autograd.grad``)."""
    captured = {id(t): None for t in inputs}
    node_of = {t.grad_fn: id(t) for t in inputs if t.grad_fn is not None}

    def capture_leaf(leaf, grad):
        if leaf._hooks:
            grad = _run_hooks(leaf._hooks, grad, leaf)
        if id(leaf) in captured:
            captured[id(leaf)] = grad

    def capture_node(fn, grad):
        if fn in node_of:
            captured[node_of[fn]] = grad

    _propagate(roots, root_grads, retain_graph, capture_leaf, capture_node if node_of else None)
    if accumulate:
        for t in inputs:
            g = captured[id(t)]
            if g is not None:
                _accumulate(t, g)
        return None
    result = []
    for t in inputs:
        g = captured[id(t)]
        if g is None and not allow_unused:
            raise RuntimeError("autograd.grad: one of the differentiated tensors was not used in "
                               "the graph; pass allow_unused=True to get None for it")
        result.append(None if g is None else t._wrap(g))
    return tuple(result)


def _propagate(roots, root_grads, retain_graph, finish_leaf, see_node_grad=None):
    """The traversal: run each Function's backward once, in topological order, and call
    ``finish_leaf(leaf, grad)`` once per leaf with its final gradient for this pass (None
    never). ``see_node_grad(fn, grad)``, when given, sees the gradient of each Function's
    output, after that output's hooks."""
    seeds = _seed_gradients(roots, root_grads)
    timed = backward_timer
    order, pending = _topological_order([fn for fn, _ in seeds if fn is not None])

    grads = {}
    leaves = {}  # id -> [leaf, gradient so far], for leaves with more than one edge left
    for fn, grad in seeds:
        if fn is None:  # a leaf was itself a root
            leaf = grad[0]  # its .grad must not alias the caller's gradient array
            finish_leaf(leaf, grad[1].copy())
        else:
            grads[fn] = grad if fn not in grads else grads[fn] + grad

    for fn in order:
        grad = grads.pop(fn, None)
        inputs_of_fn = fn.inputs
        if grad is None:
            input_grads = (None,) * len(inputs_of_fn)
        else:
            if fn.hooks:
                grad = _run_hooks(fn.hooks, grad, inputs_of_fn[0])
            if see_node_grad is not None:
                see_node_grad(fn, grad)
            fn.check_versions()
            input_grads = fn.backward(get_array_module(grad), grad) if timed is None else timed(fn, grad)
        for tensor, needed, child, g in zip(inputs_of_fn, fn.needs_grad, fn.edges, input_grads):
            if not needed:
                continue
            if child is not None:
                if g is not None:
                    previous = grads.get(child)
                    grads[child] = g if previous is None else previous + g
                continue
            key = id(tensor)
            left = pending[key] - 1
            pending[key] = left
            entry = leaves.get(key)
            if entry is None:
                if not left:  # the usual case, one edge into the leaf: final right away
                    if g is not None:
                        finish_leaf(tensor, _owned(g, grad))
                    continue
                entry = leaves[key] = [tensor, None]
            if g is not None:
                entry[1] = _owned(g, grad) if entry[1] is None else entry[1] + g
            if not left:
                if entry[1] is not None:
                    finish_leaf(tensor, entry[1])
                del leaves[key]
        if not retain_graph:
            fn.release()


def _seed_gradients(roots, root_grads):
    seeds = []
    for root, grad in zip(roots, root_grads):
        if not isinstance(root, TensorBase):
            raise TypeError(f"backward: expected a Tensor, got {type(root).__name__}")
        if not root.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn: "
                               "backward needs a tensor computed from parameters with requires_grad=True")
        xp = get_array_module(root.array)
        if grad is None:
            if root.array.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs, "
                                   f"got shape {tuple(root.array.shape)}; pass a gradient of that shape")
            grad = xp.ones(root.array.shape, dtype=root.array.dtype)
        else:
            grad = grad.array if isinstance(grad, TensorBase) else xp.asarray(grad, dtype=root.array.dtype)
            if grad.shape != root.array.shape:
                raise RuntimeError(f"backward: gradient of shape {tuple(grad.shape)} does not match "
                                   f"the output's shape {tuple(root.array.shape)}")
        if root.grad_fn is None:
            seeds.append((None, (root, grad)))
        else:
            if root.grad_fn.inputs is None:
                _raise_freed(root.grad_fn)
            seeds.append((root.grad_fn, grad))
    return seeds


def _topological_order(root_fns):
    """Functions ordered so that each comes after every function consuming its output, and
    per leaf (by id) the number of edges that will deliver it a gradient."""
    post_order, seen, pending = [], set(), {}
    for root in root_fns:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, 0)]
        while stack:
            fn, i = stack.pop()
            inputs = fn.inputs
            if inputs is None:
                _raise_freed(fn)
            edges = fn.edges
            if i == 0:  # first visit: count this function's edges into leaves
                for tensor, needed, child in zip(inputs, fn.needs_grad, edges):
                    if needed and child is None:
                        key = id(tensor)
                        pending[key] = pending.get(key, 0) + 1
            while i < len(inputs):
                child = edges[i]
                i += 1
                if child is not None and child not in seen:
                    seen.add(child)
                    stack.append((fn, i))
                    stack.append((child, 0))
                    break
            else:
                post_order.append(fn)
    post_order.reverse()
    return post_order, pending


def _owned(g, grad):
    """``g`` as an array the leaf may keep: a pass-through gradient or a view may be shared."""
    return g.copy() if g is not None and (g is grad or g.base is not None) else g


def _finish_leaf(leaf, grad):
    """Plain backward: the leaf's hooks, then its gradient accumulated into ``.grad``."""
    if leaf._hooks:
        grad = _run_hooks(leaf._hooks, grad, leaf)
    _accumulate(leaf, grad)


def _accumulate(leaf, grad):
    if grad.dtype != leaf.array.dtype:
        grad = grad.astype(leaf.array.dtype)
    if leaf.grad is None:
        leaf.grad = leaf._wrap(grad)
    else:
        leaf.grad.array += grad
    if leaf._post_hooks:
        for hook in leaf._post_hooks:
            hook(leaf)


def _run_hooks(hooks, grad, like):
    """Tensor hooks on ``grad``; ``like`` is any tensor, to make the Tensor they see."""
    for hook in hooks:
        result = hook(like._wrap(grad))
        if result is not None:
            grad = result.array
    return grad


def _raise_freed(fn):
    raise RuntimeError(
        f"Trying to backward through the graph a second time (through {fn.name}): its saved "
        "values were freed after the first backward. Pass retain_graph=True to the first "
        "backward if you need to backward through the graph again.")
