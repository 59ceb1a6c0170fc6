"""lerp, and addmm composed of differentiable ops."""
from ..amp import autocast_mode
from ..errors import OpRuntimeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import as_tensor_like, require_floating, unbroadcast
from .linalg import mm


class Lerp(Function):
    saves_inputs = True

    def forward(self, xp, a, b, w):
        self.saved = (a, b, w)
        # PyTorch's two-sided formula: exact at w = 0 and w = 1, and its NaNs at infinities
        diff = b - a
        return xp.where(xp.abs(w) < 0.5, a + w * diff, b - diff * (1 - w))

    def backward(self, xp, g):
        a, b, w = self.saved
        na, nb, nw = self.needs_grad
        return (unbroadcast(g * (1 - w), a.shape) if na else None,
                unbroadcast(g * w, b.shape) if nb else None,
                unbroadcast(g * (b - a), w.shape) if nw else None)


def lerp(input, end, weight):
    """input + weight * (end - input); input, end (and a weight tensor) of one floating dtype, as PyTorch's."""
    require_floating("lerp", input)
    if not isinstance(weight, TensorBase):
        weight = as_tensor_like(weight, input)
    if end.array.dtype != input.array.dtype or weight.array.dtype != input.array.dtype:
        raise OpRuntimeError("lerp", f"expected input, end and weight of one dtype, got {input.array.dtype}, "
                                     f"{end.array.dtype} and {weight.array.dtype}; convert them first")
    return Lerp.apply(input, end, weight)


def addmm(input, mat1, mat2, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2); with beta=0 the input is ignored (its NaNs too)."""
    if autocast_mode.active:  # matmul-class: in the low dtype under autocast
        input, mat1, mat2 = autocast_mode.to_low(input, mat1, mat2)
    product = mm(mat1, mat2)
    if alpha != 1:
        product = product * alpha
    shape = tuple(product.shape)
    if len(input.shape) > 2 or any(i not in (1, o) for i, o in zip(input.shape[::-1], shape[::-1])):
        raise OpRuntimeError("addmm", f"input of shape {tuple(input.shape)} does not broadcast to the product's "
                                      f"shape {shape}")
    if beta == 0:  # PyTorch ignores the input then: NaN or inf in it does not propagate
        return product
    return (input if beta == 1 else input * beta) + product
