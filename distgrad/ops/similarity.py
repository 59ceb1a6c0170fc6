"""one_hot, normalize, cosine_similarity and pairwise_distance, composed from the reductions and
elementwise ops the way PyTorch composes them (so their gradients agree at the edges too)."""
from ..errors import OpRuntimeError, OpTypeError
from .elementwise import clamp, div, mul
from .reduction import norm, sum as _sum
from .shape import broadcast_to


def one_hot(tensor, num_classes=-1):
    array = tensor.array
    if array.dtype.kind not in "iu":
        raise OpTypeError("one_hot", f"one_hot is only applicable to index tensor of dtype int64, got "
                                     f"{array.dtype}")
    if num_classes == -1:
        if array.size == 0:
            raise OpRuntimeError("one_hot", "Can not infer total number of classes from empty tensor.")
        num_classes = int(array.max()) + 1
    if array.size and int(array.min()) < 0:
        raise OpRuntimeError("one_hot", "Class values must be non-negative.")
    if array.size and int(array.max()) >= num_classes:
        raise OpRuntimeError("one_hot", f"Class values must be smaller than num_classes ({num_classes}).")
    xp = tensor.xp
    return tensor._wrap((array[..., None] == xp.arange(num_classes)).astype(xp.int64))


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    if out is not None:
        raise OpTypeError("normalize", "out= is not supported; assign the result instead")
    denominator = clamp(norm(input, p, dim, keepdim=True), min=eps)
    return div(input, broadcast_to(denominator, input.shape))


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    shape = _broadcast_shape(x1, x2, "cosine_similarity")
    x1, x2 = broadcast_to(x1, shape), broadcast_to(x2, shape)
    n1 = clamp(norm(x1, 2, dim, keepdim=True), min=eps)
    n2 = clamp(norm(x2, 2, dim, keepdim=True), min=eps)
    return _sum(mul(div(x1, n1), div(x2, n2)), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    _broadcast_shape(x1, x2, "pairwise_distance")
    difference = x1 - x2 + eps
    return norm(difference, p, -1 if difference.ndim else None, keepdim=keepdim)


def _broadcast_shape(x1, x2, op):
    try:
        return tuple(x1.xp.broadcast_shapes(tuple(x1.shape), tuple(x2.shape)))
    except ValueError:
        raise OpRuntimeError(op, f"shapes {tuple(x1.shape)} and {tuple(x2.shape)} do not broadcast") from None
