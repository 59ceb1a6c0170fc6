"""Activation checkpointing, as ``torch.utils.checkpoint``: trade compute for memory.

    y = checkpoint(block, x, use_reentrant=False)

runs ``block`` without recording a graph, so none of its intermediate activations stay
alive; only its inputs are kept. When backward reaches ``y`` the block runs again, this time
recording, from the same inputs and (``preserve_rng_state``) the same CPU random generator
state, so dropout draws the same mask (the GPU's generator state is not restored: a warning says so); that graph is then differentiated at once into the inputs and
into the parameters the block used. The gradients equal those of the unchecked run bit for bit.

The recomputed graph is differentiated inside the backward pass that reached it (not as a
backward of its own), so gradient hooks, DistributedDataParallel's bucket all-reduces and
their end-of-backward wait see one pass, as without checkpointing.
"""
import warnings

from .. import random as dg_random
from ..autograd.custom_function import Function
from ..autograd.engine import backward_within_pass
from ..backend import is_gpu_array
from ..function import enable_grad, is_grad_enabled
from ..creation import tensor
from ..tensor_base import TensorBase


def _noop_context_fn():
    return _NullContext(), _NullContext()


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Recompute:
    """What the backward needs besides the inputs: the function, its keyword arguments and the
    random generator state it started from."""

    __slots__ = ("fn", "kwargs", "rng_state", "as_list")

    def __init__(self, fn, kwargs, preserve_rng_state):
        self.fn, self.kwargs = fn, kwargs
        self.rng_state = dg_random.get_rng_state() if preserve_rng_state else None
        self.as_list = False

    def run(self, args):
        """The function's outputs; a list comes back as a tuple (what a Function returns)."""
        outputs = self.fn(*args, **self.kwargs)
        if isinstance(outputs, list):
            self.as_list = True
            return tuple(outputs)
        return outputs


class CheckpointFunction(Function):
    """The node standing for a whole checkpointed call. ``anchor`` is a tensor that requires
    grad, passed by the non-reentrant variant so the node is recorded even when no input
    requires grad (the parameters inside still need theirs)."""

    @staticmethod
    def forward(ctx, recompute, anchor, *args):
        ctx.recompute = recompute
        ctx.set_materialize_grads(False)  # an output that got no gradient is left out of the recompute's backward
        ctx.args = [None if isinstance(a, TensorBase) else a for a in args]  # tensors: saved below
        ctx.save_for_backward(*[a for a in args if isinstance(a, TensorBase)])
        return recompute.run(args)

    @staticmethod
    def backward(ctx, *grad_outputs):
        recompute = ctx.recompute
        wanted = ctx.needs_input_grad[2:]
        saved = iter(ctx.saved_tensors)
        args = []
        for arg, needs in zip(ctx.args, wanted):
            if arg is None:
                arg = next(saved).detach()
                arg.requires_grad = needs
            args.append(arg)
        with _rng_state(recompute.rng_state), enable_grad():
            outputs = recompute.run(args)
        grads = _differentiate(outputs, grad_outputs, args, wanted)
        return (None, None, *grads)


def _differentiate(outputs, grad_outputs, args, wanted):
    """Backpropagate ``grad_outputs`` through the recomputed graph inside the running backward:
    parameters accumulate their gradients (hooks firing); the detached inputs' gradients are
    what this node hands back to the outer graph (None where not wanted or not reached)."""
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    roots, grads = [], []
    for out, grad in zip(outputs, grad_outputs):
        if isinstance(out, TensorBase) and out.requires_grad and grad is not None:
            roots.append(out)
            grads.append(grad)
    if not roots:
        return [None] * len(args)
    keep = [a for a, needs in zip(args, wanted) if needs]
    found = iter(backward_within_pass(roots, grads, keep))
    result = []
    for a, needs in zip(args, wanted):
        g = next(found) if needs else None
        result.append(None if g is None else a._wrap(g))
    return result


class _rng_state:
    """Run with the CPU generator set to ``state``, then put back the state it had (None: as is)."""

    def __init__(self, state):
        self.state = state

    def __enter__(self):
        if self.state is not None:
            self.current = dg_random.get_rng_state()
            dg_random.set_rng_state(self.state)

    def __exit__(self, *exc):
        if self.state is not None:
            dg_random.set_rng_state(self.current)
        return False


def checkpoint(function, *args, use_reentrant=None, context_fn=_noop_context_fn, determinism_check="default",
               debug=False, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)`` without keeping its activations; recomputed in backward.

    use_reentrant=True (PyTorch's older variant, and its default, with a warning, when
    use_reentrant is not given): the output requires grad only when some tensor argument does,
    and keyword arguments are refused. use_reentrant=False (PyTorch's recommended one): the
    parameters inside get their gradients even when no argument requires grad. The function
    returns a Tensor, or a tuple or list of them (other values pass through, not differentiated).
    ``context_fn``, ``determinism_check`` and ``debug`` are accepted with their default values only."""
    if context_fn is not _noop_context_fn:
        raise NotImplementedError("checkpoint: context_fn is not supported; leave it at its default")
    if determinism_check not in ("default", "none"):
        raise ValueError(f"checkpoint: determinism_check must be 'default' or 'none', got {determinism_check!r}")
    reentrant = _reentrant(use_reentrant)
    if reentrant and kwargs:
        raise ValueError(f"checkpoint: unexpected keyword arguments {', '.join(sorted(kwargs))}; keyword "
                         "arguments reach the function only with use_reentrant=False")
    if not is_grad_enabled():
        return function(*args, **kwargs)  # nothing will be differentiated: nothing to save
    if reentrant and not any(isinstance(a, TensorBase) and a.requires_grad for a in args):
        warnings.warn("checkpoint: no tensor argument requires grad, so with use_reentrant=True nothing inside "
                      "gets a gradient; pass use_reentrant=False for the parameters inside to get theirs",
                      stacklevel=2)
    if preserve_rng_state and any(isinstance(a, TensorBase) and is_gpu_array(a.array) for a in args):
        warnings.warn("checkpoint: the GPU's random state is not restored (only the CPU generator's is), so "
                      "dropout inside a checkpointed block on the GPU draws a new mask when it is recomputed",
                      stacklevel=2)
    recompute = _Recompute(function, kwargs, preserve_rng_state)
    outputs = CheckpointFunction.apply(recompute, None if reentrant else _anchor(), *args)
    return list(outputs) if recompute.as_list else outputs


def _reentrant(use_reentrant):
    if use_reentrant is None:
        warnings.warn("checkpoint: pass use_reentrant explicitly; without it the reentrant variant runs, as in "
                      "PyTorch, but use_reentrant=False is the recommended one", stacklevel=3)
        return True
    return bool(use_reentrant)


def _anchor():
    return tensor(0.0, requires_grad=True)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run the layers ``functions`` (an nn.Sequential or a list) in ``segments`` pieces, each
    but the last checkpointed, as PyTorch's checkpoint_sequential."""
    if hasattr(functions, "children") and not isinstance(functions, (list, tuple)):
        functions = list(functions.children())
    functions = list(functions)
    if not 1 <= int(segments) <= max(len(functions), 1):
        raise ValueError(f"checkpoint_sequential: segments must be between 1 and the number of functions "
                         f"({len(functions)}), got {segments}")
    use_reentrant = _reentrant(use_reentrant)
    size = len(functions) // segments
    start = 0
    for _ in range(segments - 1):
        input = checkpoint(_Run(functions[start:start + size]), input, use_reentrant=use_reentrant, **kwargs)
        start += size
    return _Run(functions[start:])(input)


class _Run:
    """Some layers applied one after another."""

    def __init__(self, functions):
        self.functions = functions

    def __call__(self, input):
        for fn in self.functions:
            input = fn(input)
        return input
