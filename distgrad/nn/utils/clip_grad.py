"""Gradient clipping (torch.nn.utils.clip_grad)."""
import math

import numpy

from ...backend import get_array_module
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.array for p in parameters if p.grad is not None]


def _total_norm(xp, grads, norm_type):
    """The norm of all gradients taken together, as a 0-d array (no host synchronisation)."""
    if norm_type == math.inf:
        return xp.max(xp.stack([xp.abs(g).max() for g in grads]))
    if norm_type == 2.0:
        # vdot over the flat view: a BLAS reduction per tensor, no temporaries.
        squares = xp.stack([xp.vdot(g.ravel(), g.ravel()) for g in grads])
        return xp.sqrt(squares.sum())
    powers = xp.stack([(xp.abs(g) ** norm_type).sum() for g in grads])
    return powers.sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients in place so that their global ``norm_type``-norm is at most
    ``max_norm``; returns the norm before clipping as a 0-d Tensor."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor._wrap(numpy.zeros((), dtype=numpy.float32))
    xp = get_array_module(grads[0])
    total = xp.asarray(_total_norm(xp, grads, norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}, so they cannot be clipped; set error_if_nonfinite=False to skip")
    # Always multiply (by at most 1): no branch on a device value, so no synchronisation.
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef.astype(g.dtype)
    return Tensor._wrap(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.clip(-clip_value, clip_value, out=g)
