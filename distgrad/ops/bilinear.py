"""bilinear: ``y_o = x1^T A_o x2 + b_o`` for every leading index, an einsum (so differentiable
in both inputs, the weight and the bias)."""
from ..errors import OpRuntimeError
from .einsum import einsum


def bilinear(input1, input2, weight, bias=None):
    """``input1`` (..., in1) and ``input2`` (..., in2) with ``weight`` (out, in1, in2): (..., out)."""
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2] \
            or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise OpRuntimeError("bilinear", f"expected input1 (..., {weight.shape[1] if weight.ndim == 3 else 'in1'}), "
                                         f"input2 with the same leading dimensions and weight (out, in1, in2); got "
                                         f"{tuple(input1.shape)}, {tuple(input2.shape)} and {tuple(weight.shape)}")
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else out + bias
