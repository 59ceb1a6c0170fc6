"""In-place array steps shared by the update rules, each in PyTorch's order of operations
(so results agree with torch.optim to rounding). ``tmp`` arrays are scratch views.

Ufuncs are called with the output as a positional argument and scalars as 0-d arrays of
the parameter's dtype (``const``): cheaper per call on small tensors (benchmarks/NOTES.md,
"Engine micro-optimisations"), with the same rounding (a Python float is cast to that dtype
all the same).
"""
import numpy

_constants = {}


def const(xp, value, dtype):
    """``value`` as a cached 0-d NumPy array of ``dtype``; unchanged for CuPy (kernel arguments)."""
    if xp is not numpy:
        return value
    key = (value, dtype)
    c = _constants.get(key)
    if c is None:
        if len(_constants) > 1024:  # learning rates that change every step must not pile up
            _constants.clear()
        c = _constants[key] = numpy.asarray(value, dtype)
    return c


def fused_kernels(*arrays):
    """distgrad.cuda.kernels when its fused one-launch updates take these arrays (CuPy, one
    float dtype), else None: NumPy arrays, and anything else, take the steps below."""
    if isinstance(arrays[0], numpy.ndarray):
        return None
    from ..cuda import kernels  # imports no CuPy of its own; only reached with GPU arrays
    return kernels if kernels.fusable(*arrays) else None


def effective_grad(xp, param, grad, weight_decay, maximize, out):
    """``-grad if maximize else grad``, plus ``weight_decay * param`` (L2 penalty); returns
    ``grad`` itself when neither applies, else ``out`` holding the result."""
    if not weight_decay:
        return xp.negative(grad, out) if maximize else grad
    xp.multiply(param, const(xp, weight_decay, param.dtype), out)
    return xp.subtract(out, grad, out) if maximize else xp.add(out, grad, out)


def lerp_(xp, target, end, weight, tmp):
    """``target += weight * (end - target)``, as torch.lerp_ (stable form for weight >= 0.5)."""
    xp.subtract(end, target, tmp)
    if weight < 0.5:
        xp.multiply(tmp, const(xp, weight, tmp.dtype), tmp)
        xp.add(target, tmp, target)
    else:
        xp.multiply(tmp, const(xp, 1 - weight, tmp.dtype), tmp)
        xp.subtract(end, tmp, target)


def scale_(xp, target, value):
    """``target *= value``."""
    xp.multiply(target, const(xp, value, target.dtype), target)


def add_scaled_(xp, target, source, value, tmp):
    """``target += value * source`` (torch's add_(source, alpha=value))."""
    xp.multiply(source, const(xp, value, source.dtype), tmp)
    xp.add(target, tmp, target)


def add_square_(xp, target, grad, value, tmp):
    """``target += value * grad * grad`` (torch's addcmul_(grad, grad, value=value))."""
    xp.multiply(grad, const(xp, value, grad.dtype), tmp)
    xp.multiply(tmp, grad, tmp)
    xp.add(target, tmp, target)


def add_ratio_(xp, target, numerator, denominator, value, tmp):
    """``target += value * numerator / denominator`` (torch's addcdiv_)."""
    xp.multiply(numerator, const(xp, value, numerator.dtype), tmp)
    xp.divide(tmp, denominator, tmp)
    xp.add(target, tmp, target)
