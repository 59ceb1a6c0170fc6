"""Views and in-place changes made through them.

The rules, PyTorch's:

- A view op (basic indexing, reshape of a contiguous tensor, transpose/permute, expand, and
  what is built on them: view, flatten, squeeze, unsqueeze, t, split, chunk, unbind) returns
  a tensor whose array is a view of its input's and that shares its version counter: a
  TensorView, which records its root base and the steps (view Function and params) that
  re-derive it from that base (ViewRecord). One made under no_grad never takes a history.
- An in-place op writes the target's memory (through a view: its base's) and bumps the shared
  version counter. Under no_grad, or when neither the target nor an operand requires grad,
  that is all: optimizers and nn.init take that path.
- Otherwise (write_in_place) the result is computed out of place from the target's old value
  and written in. A plain tensor takes the op's node as its history. For a view, the BASE's
  history is rewritten: a CopySlices node gives the base's gradient outside the view to the
  base's previous history and the part inside it to the op. Every view of the base then holds
  a stale grad_fn; it is re-derived from the base (the steps replayed) when next read, which
  the version counter tells.
- A leaf that requires grad, or a view of one, refuses in-place ops in grad mode; so does a
  view made under no_grad, when autograd would have to record the change.
- Nodes keep the grad_fn of each input as it was when they ran (Function.edges), so a graph
  recorded before an in-place op still differentiates the old values; a saved tensor changed
  in place still fails the version check.
"""
from ..errors import OpRuntimeError
from ..function import Function, _new, _state
from ..tensor_base import TensorBase

# The slots under TensorView's grad_fn and requires_grad properties.
_grad_fn_slot = TensorBase.grad_fn
_requires_grad_slot = TensorBase.requires_grad


class ViewRecord:
    """What a view is a view of: its root base, the steps from there, and the base's version
    when the view's grad_fn was last derived. ``shared``: the op that returned it among
    several views (split, unbind); ``no_grad``: it was made under no_grad, and never has a
    history (PyTorch's non-differentiable views)."""

    __slots__ = ("base", "steps", "seen", "shared", "no_grad")


def one_of_several(views, op):
    """Mark the views ``op`` returned together (split, unbind): PyTorch refuses in-place ops on
    them under autograd, and so does write_in_place."""
    for view in views:
        if view._view is not None:
            view._view.shared = op
    return views


def init_view(view, array, requires_grad, grad_fn, parent, cls, params, no_grad=False):
    """Fill a new TensorView made from ``parent`` by ``cls`` with ``params``."""
    view.array = array
    _requires_grad_slot.__set__(view, requires_grad)
    view.grad = None
    _grad_fn_slot.__set__(view, grad_fn)
    view._version = parent._version
    view._hooks = view._post_hooks = view.name = None
    # The record filled here rather than by an __init__: this runs for every view op in grad mode.
    view._view = record = _new(ViewRecord)
    above = parent._view
    if above is None:
        record.base, record.steps, record.shared, record.no_grad = parent, ((cls, params),), None, no_grad
    else:
        record.base, record.steps, record.shared = above.base, above.steps + ((cls, params),), above.shared
        record.no_grad = no_grad or above.no_grad
    record.seen = parent._version[0]
    return view


def view_grad_fn(view):
    record = view._view
    if record.seen != view._version[0]:
        _rederive(view, record)
    return _grad_fn_slot.__get__(view)


def view_requires_grad(view):
    record = view._view
    if record.seen != view._version[0]:
        _rederive(view, record)
    return _requires_grad_slot.__get__(view)


def _rederive(view, record):
    """The base was changed in place since the view's grad_fn was made: replay the steps on
    the base, so the view's history starts from the base's current one."""
    record.seen = view._version[0]
    base = record.base
    # Nothing to re-derive without a base history; a view made a leaf (requires_grad_) stays one.
    if record.no_grad or not base.requires_grad:
        return
    enabled, _state.enabled = _state.enabled, True
    try:
        t = base
        for cls, params in record.steps:
            t = cls.apply(t, **params)
    finally:
        _state.enabled = enabled
    _grad_fn_slot.__set__(view, t.grad_fn)
    _requires_grad_slot.__set__(view, True)


def needs_recording(view):
    """Whether an in-place op on a view made under no_grad, with operands that need no grad, would
    still have to be recorded (its base requires grad): write_in_place then refuses it."""
    return view.no_grad and view.base.requires_grad


def replay(xp, array, steps):
    """The steps of a view applied to an array of its base's shape (a gradient, say)."""
    for cls, params in steps:
        array = cls.forward(_new(cls), xp, array, **params)
    return array


def write_in_place(op, target, compute, reads_self, args):
    """An in-place op that autograd must record: ``compute(old, *args)`` gives the new value as
    a tensor of the target's shape and dtype, computed out of place from ``old``, a tensor
    with the target's value and history. ``reads_self``: the op's backward reads ``old``, so
    it gets a copy that the write below does not change."""
    record = target._view
    base = target if record is None else record.base
    if record is not None and record.no_grad:
        raise OpRuntimeError(op, "a view was made under no_grad and is being changed in place with grad mode "
                                 "on; make the view in grad mode, or change it under no_grad too")
    if target.requires_grad and target.grad_fn is None:
        _refuse_leaf(op, "a leaf tensor")
    if base.requires_grad and base.grad_fn is None:
        _refuse_leaf(op, "a view of a leaf tensor")
    if record is not None:
        if record.shared:
            raise OpRuntimeError(op, f"this tensor is one of the multiple views that {record.shared} returned; "
                                     "such views cannot be modified in place under autograd: use an "
                                     "out-of-place op, or clone() the view first")
        for cls, _ in record.steps:
            if cls.overlapping:
                raise OpRuntimeError(op, f"unsupported operation: the target is a view made by "
                                         f"{cls.__name__}, whose elements share memory; clone() it first")
    old = target._wrap(target.array.copy() if reads_self else target.array, target.requires_grad,
                       target.grad_fn)
    result = compute(old, *[old if a is target else a for a in args])
    target.array[...] = result.array
    target._bump_version()
    if record is None:
        _grad_fn_slot.__set__(target, result.grad_fn)
        _requires_grad_slot.__set__(target, result.requires_grad)
    else:
        rebased = CopySlices.apply(base, result, steps=record.steps)
        _grad_fn_slot.__set__(base, rebased.grad_fn)
        _requires_grad_slot.__set__(base, rebased.requires_grad)


def _refuse_leaf(op, what):
    raise OpRuntimeError(op, f"{what} that requires grad is being used in an in-place operation; "
                             "wrap the update in distgrad.no_grad()")


class CopySlices(Function):
    """The base after an in-place op on one of its views (input 1, the op's result, already
    written into the base's memory): the base's gradient inside the view goes to the op,
    the rest to the base's history before the op (input 0)."""

    def forward(self, xp, base, written, steps):
        self.steps, self.layout = steps, base
        return base

    def backward(self, xp, g):
        keep, inside = self.needs_grad
        g_base = xp.empty_like(self.layout)  # the base's strides, so each step is a view again
        g_base[...] = g
        region = replay(xp, g_base, self.steps)
        g_written = region.copy() if inside else None
        if keep:
            region[...] = 0
        return (g_base if keep else None, g_written)
