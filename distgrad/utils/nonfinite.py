"""Non-finite losses and gradients: skip the step on every rank together, or stop and say
which step it was.

    loss.backward()
    if step_if_finite(optimizer, policy="skip", loss=loss, step=step):   # instead of step()
        ...

    # or, checking only (DistributedDataParallel, or a world of one):
    loss.backward()
    if check_finite(model, policy="skip", step=step):
        optimizer.step()

Policies: "skip" drops this step's gradients (``.grad`` set to None) and returns False on
every rank; "raise" raises FloatingPointError naming the step, the parameters and the
ranks whose loss was not finite; None only returns the verdict.

Why every rank reaches the same verdict without any extra communication: the check runs
on the gradients *after* the all-reduce (DistributedDataParallel averages them during
backward; step_if_finite synchronizes a DistributedOptimizer first). Every rank holds the
same averaged gradients, and an inf or NaN that any one rank contributed makes the sum inf
or NaN on every rank whatever order the all-reduce adds in (inf + x = inf, inf - inf = NaN,
NaN + x = NaN). So each rank checks its own copy and they agree. Only the loss is private to
each rank: when it is given, one all-gather of a byte per rank combines the verdicts.
"""
import numpy

from ..backend import get_array_module, move
from ..tensor import Tensor
from ..world.state import communicator
from .logging import get_logger

POLICIES = ("skip", "raise", None)
_log = get_logger("distgrad")


def check_finite(target, policy="skip", loss=None, step=None):
    """Whether the (already averaged) gradients of ``target`` are all finite, and the loss
    too when given; on a non-finite one, apply ``policy``. ``target``: an optimizer, a Module
    (its parameter names appear in messages) or an iterable of tensors. Collective when
    ``loss`` is given: call it on every rank."""
    return _check(_named_parameters(target), policy, loss, step, "check_finite")


def step_if_finite(optimizer, policy="skip", loss=None, step=None, model=None):
    """``optimizer.step()`` when every averaged gradient (and the loss, if given) is finite;
    else apply ``policy``. Returns whether the step was taken. A DistributedOptimizer is
    synchronized first, so the check sees the averaged gradients. ``model`` only names
    parameters in messages."""
    named = _named_parameters(optimizer)
    if model is not None:
        names = {id(p): name for name, p in model.named_parameters()}
        named = [(names.get(id(p), name), p) for name, p in named]
    skip_synchronize = getattr(optimizer, "skip_synchronize", None)
    if skip_synchronize is not None:
        optimizer.synchronize()
    if not _check(named, policy, loss, step, "step_if_finite"):
        return False
    if skip_synchronize is not None:
        with skip_synchronize():  # already synchronized: reducing again would average twice
            optimizer.step()
    else:
        optimizer.step()
    return True


def _check(named, policy, loss, step, caller):
    if policy not in POLICIES:
        raise ValueError(f"{caller}: policy must be 'skip', 'raise' or None, got {policy!r}")
    bad = _nonfinite_gradients(named)
    comm = communicator()
    bad_loss_ranks = _ranks_with_nonfinite_loss(comm, loss) if loss is not None else []
    if not bad and not bad_loss_ranks:
        return True
    what = []
    if bad:
        shown = ", ".join(f"{name} ({kind})" for name, kind in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        what.append(f"non-finite gradients after the all-reduce in {shown}{more}")
    if bad_loss_ranks:
        what.append(f"non-finite loss on rank {', '.join(map(str, bad_loss_ranks))}")
    text = (f"step {step}: " if step is not None else "") + "; ".join(what)
    if policy == "raise":
        raise FloatingPointError(f"{comm.prefix} {text}; stopping (policy 'raise')")
    if policy == "skip":
        for _, p in named:
            p.grad = None
        if comm.rank == 0:  # every rank skips; saying so once is enough
            _log.warning(f"{text}; the step is skipped on every rank")
    return False


def _named_parameters(target):
    if hasattr(target, "param_groups"):
        return [(f"param_groups[{g}]['params'][{k}]", p) for g, group in enumerate(target.param_groups)
                for k, p in enumerate(group["params"])]
    if hasattr(target, "named_parameters"):
        return list(target.named_parameters())
    if isinstance(target, Tensor):
        return [("tensor", target)]
    return [(f"tensors[{i}]", t) for i, t in enumerate(target)]


def _nonfinite_gradients(named):
    """[(name, "inf" | "nan")] for the gradients holding a non-finite value.

    The fast path sums each gradient (one pass, and one device sync per array module): a
    finite sum proves the gradient finite. Only gradients whose sum is not finite (a
    non-finite value, or a sum that overflowed) are looked at element by element."""
    groups = {}  # by array module: one stacked check, so one device sync, per module
    for name, p in named:
        if p.grad is not None:
            g = p.grad.array
            groups.setdefault(get_array_module(g), []).append((name, g))
    suspects = []
    for xp, entries in groups.items():
        sums = xp.stack([g.sum(dtype=xp.float32 if g.dtype == xp.float16 else None) for _, g in entries])
        finite = numpy.asarray(move(xp.isfinite(sums), "cpu"))
        suspects += [entries[i] for i in numpy.flatnonzero(~finite)]
    bad = []
    for name, g in suspects:
        xp = get_array_module(g)
        if bool(xp.isnan(g).any()):
            bad.append((name, "nan"))
        elif not bool(xp.isfinite(g).all()):
            bad.append((name, "inf"))
    return bad


def _ranks_with_nonfinite_loss(comm, loss):
    value = loss.array if isinstance(loss, Tensor) else numpy.asarray(loss)
    xp = get_array_module(value)
    mine = numpy.array([0 if bool(xp.isfinite(value).all()) else 1], numpy.uint8)
    rows = comm.allgather(mine)
    return [r for r in range(comm.size) if rows[r][0]]
