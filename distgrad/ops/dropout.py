"""Dropout: zero each element with probability p and scale the survivors by 1 / (1 - p)."""
from ..backend import get_array_module
from ..errors import OpTypeError, OpValueError
from ..function import Function
from ..random import generator_for
from .inplace import _inplace


def keep_mask(xp, shape, p, dtype):
    """The scaled keep-mask, drawn from distgrad's seeded generator (see manual_seed)."""
    if p == 1:
        return xp.zeros(shape, dtype=dtype)
    # float32 draws: half the random bits of float64, and 2**-24 is fine resolution for p.
    mask = (generator_for(xp).random(shape, dtype=xp.float32) >= p).astype(dtype)
    mask *= dtype.type(1 / (1 - p))
    return mask


class Dropout(Function):
    def forward(self, xp, x, p):
        self.mask = keep_mask(xp, x.shape, p, x.dtype)
        return x * self.mask

    def backward(self, xp, g):
        return (g * self.mask,)


def _check_probability(input, p, op):
    if not 0 <= p <= 1:
        raise OpValueError(op, f"dropout probability has to be between 0 and 1, got {p}")
    if input.array.dtype.kind != "f":
        raise OpTypeError(op, f"expected a floating point input, got dtype {input.array.dtype}")


def _scale_in_place(array, p):
    array *= keep_mask(get_array_module(array), array.shape, p, array.dtype)


dropout_ = _inplace(lambda t, p: Dropout.apply(t, p=p), _scale_in_place)
dropout_.__name__ = "dropout_"


def dropout(input, p=0.5, training=True, inplace=False):
    _check_probability(input, p, "dropout")
    if not training or p == 0:
        return input
    if inplace:
        return dropout_(input, float(p))
    return Dropout.apply(input, p=float(p))
