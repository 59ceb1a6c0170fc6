"""rms_norm (PyTorch 2.4+'s): each sample divided by the root mean square of its trailing
``normalized_shape`` values, then scaled. A composition of differentiable ops, so gradients
reach the input and the weight without a backward of its own."""
import numpy

from ..errors import OpRuntimeError
from ._util import require_floating


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``input / sqrt(mean(input**2 over the normalized dims) + eps) * weight``; ``eps=None``
    takes the machine epsilon of the input's dtype, as PyTorch's."""
    require_floating("rms_norm", input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise OpRuntimeError("rms_norm", f"given normalized_shape={list(shape)}, expected an input ending with "
                                         f"{list(shape)}, got shape {tuple(input.shape)}")
    if weight is not None and tuple(weight.shape) != shape:
        raise OpRuntimeError("rms_norm", f"weight of shape {tuple(weight.shape)} must have the normalized shape "
                                         f"{shape}")
    if eps is None:
        eps = float(numpy.finfo(input.array.dtype).eps)
    axes = tuple(range(input.ndim - k, input.ndim))
    out = input * ((input * input).mean(dim=axes, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight
