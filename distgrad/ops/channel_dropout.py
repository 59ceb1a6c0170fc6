"""Channel-wise dropout (dropout1d/2d/3d): every channel of every sample is zeroed whole, with
probability p, and the kept ones scaled by 1 / (1 - p), as PyTorch's."""
from ..errors import OpRuntimeError
from .dropout import _check_probability, keep_mask
from .elementwise import mul


def _channel_dropout(op, spatial, input, p, training, inplace):
    _check_probability(input, p, op)
    if input.ndim not in (spatial + 1, spatial + 2):
        raise OpRuntimeError(op, f"expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input, "
                                 f"got shape {tuple(input.shape)}")
    if not training or p == 0:
        return input
    channels = input.ndim - spatial  # (C,) or (N, C): the leading dims that draw one mask each
    shape = tuple(input.shape[:channels]) + (1,) * spatial
    mask = input._wrap(keep_mask(input.xp, shape, float(p), input.array.dtype))
    if inplace:
        return input.mul_(mask)
    return mul(input, mask)


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout("dropout1d", 1, input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout("dropout2d", 2, input, p, training, inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout("dropout3d", 3, input, p, training, inplace)
