"""Compare analytic gradients with central finite differences."""
import numpy

from ..function import no_grad
from ..tensor_base import TensorBase
from .engine import run_backward


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when ``fn``'s backward matches finite differences for every input that requires
    grad (use float64 inputs). Raises with the worst mismatch otherwise."""
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    wrt = [t for t in inputs if isinstance(t, TensorBase) and t.requires_grad]
    out = fn(*inputs)
    outputs = out if isinstance(out, (tuple, list)) else (out,)
    for k, output in enumerate(outputs):
        if not output.requires_grad:
            continue
        rng = numpy.random.default_rng(k)
        # A random projection of the output turns a vector function into a scalar one.
        weight = rng.standard_normal(output.shape).astype(output.dtype)
        wvec = output.xp.asarray(weight)
        analytic = run_backward([output], [wvec], retain_graph=True, inputs=wrt,
                                accumulate=False, allow_unused=True)
        for i, (tensor, grad) in enumerate(zip(wrt, analytic)):
            numeric = _numeric_grad(fn, inputs, tensor, k, wvec, eps)
            got = numpy.zeros(tensor.shape) if grad is None else numpy.asarray(grad.__array__())
            if not numpy.allclose(got, numeric, atol=atol, rtol=rtol):
                worst = numpy.unravel_index(numpy.argmax(numpy.abs(got - numeric)), got.shape)
                message = (f"gradcheck: gradient of output {k} with respect to input {i} "
                           f"(shape {tuple(tensor.shape)}) differs at {worst}: analytic {got[worst]!r}, "
                           f"numerical {numeric[worst]!r}")
                if raise_exception:
                    raise AssertionError(message)
                return False
    return True


def _numeric_grad(fn, inputs, tensor, k, weight, eps):
    array = tensor.array
    grad = numpy.zeros(array.shape)
    with no_grad():
        # Index element by element: reshape(-1) would copy a non-contiguous array, and the
        # nudges would then never reach the function.
        for index in numpy.ndindex(*array.shape):
            original = array[index].item()
            array[index] = original + eps
            plus = _projected(fn(*inputs), k, weight)
            array[index] = original - eps
            minus = _projected(fn(*inputs), k, weight)
            array[index] = original
            grad[index] = (plus - minus) / (2 * eps)
    return grad


def _projected(out, k, weight):
    out = out[k] if isinstance(out, (tuple, list)) else out
    return float((out.array * weight).sum())
