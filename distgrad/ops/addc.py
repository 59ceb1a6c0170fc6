"""addcmul and addcdiv (``input + value * t1 * t2`` and ``input + value * t1 / t2``, as
hand-written optimizers use them, in place too) and reciprocal, composed of the elementwise
ops so their gradients and dtype promotion are those ops'."""
from ..errors import OpRuntimeError
from ..tensor_base import TensorBase
from . import elementwise as ew
from .inplace import _inplace
from .shape import broadcast_to


def _integral(*operands):
    return all(isinstance(t, TensorBase) and t.array.dtype.kind in "biu" for t in operands)


def _expanded(input, tensor1, tensor2):
    """tensor1 and tensor2 broadcast to the result's shape first, so that their gradients are
    summed from full-size products, in PyTorch's order (an inf meeting gradients of both
    signs gives NaN there too)."""
    try:
        shape = input.xp.broadcast_shapes(input.array.shape, tensor1.array.shape, tensor2.array.shape)
    except ValueError:
        return tensor1, tensor2  # the op itself reports the shapes
    return tuple(t if t.array.shape == shape else broadcast_to(t, shape) for t in (tensor1, tensor2))


def addcmul(input, tensor1, tensor2, *, value=1):
    if _integral(input, tensor1, tensor2):
        value = int(value)  # PyTorch truncates the factor of integer tensors
    product = ew.mul(*_expanded(input, tensor1, tensor2))
    return ew.add(input, product if value == 1 else ew.mul(product, value))


def addcdiv(input, tensor1, tensor2, *, value=1):
    if _integral(tensor1, tensor2):
        raise OpRuntimeError("addcdiv", "integer division with addcdiv is not supported; convert tensor1 or "
                                        "tensor2 to a floating dtype, or use input + value * torch.trunc(t1 / t2)")
    quotient = ew.div(*_expanded(input, tensor1, tensor2))
    return ew.add(input, quotient if value == 1 else ew.mul(quotient, value))


def reciprocal(input):
    """``1 / input``; integer tensors give the default floating dtype, as PyTorch."""
    return ew.div(1, input)


def _addcmul_array(a, tensor1, tensor2, value=1):
    a += value * tensor1 * tensor2


def _addcdiv_array(a, tensor1, tensor2, value=1):
    if tensor1.dtype.kind in "biu" and tensor2.dtype.kind in "biu":
        raise OpRuntimeError("addcdiv_", "integer division with addcdiv is not supported; convert tensor1 or "
                                         "tensor2 to a floating dtype")
    a += value * tensor1 / tensor2


addcmul_ = _inplace(addcmul, _addcmul_array, reads_self=False)
addcdiv_ = _inplace(addcdiv, _addcdiv_array, reads_self=False)
addcmul_.__name__, addcdiv_.__name__ = "addcmul_", "addcdiv_"
