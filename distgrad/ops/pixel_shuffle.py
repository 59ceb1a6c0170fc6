"""pixel_shuffle / pixel_unshuffle: move r*r channels into an r-times larger image and back, as
one reshape, one permutation and one reshape (views and a copy; their backward is the same
moves undone)."""
from ..errors import OpRuntimeError
from .shape import permute, reshape


def _check(op, input, factor):
    if input.ndim < 3:
        raise OpRuntimeError(op, f"expected an input of at least 3 dims (*, C, H, W), got shape "
                                 f"{tuple(input.shape)}")
    if not isinstance(factor, int) or factor < 1:
        raise OpRuntimeError(op, f"the factor must be a positive int, got {factor!r}")


def pixel_shuffle(input, upscale_factor):
    _check("pixel_shuffle", input, upscale_factor)
    r = upscale_factor
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise OpRuntimeError("pixel_shuffle", f"pixel_shuffle expects its input's 'channel' dimension to be "
                                              f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                                              f"is not divisible by {r * r}")
    k = len(lead)
    x = reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = permute(x, (*range(k), k, k + 3, k + 1, k + 4, k + 2))
    return reshape(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    _check("pixel_unshuffle", input, downscale_factor)
    r = downscale_factor
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise OpRuntimeError("pixel_unshuffle", f"pixel_unshuffle expects height ({h}) and width ({w}) to be "
                                                f"divisible by downscale_factor={r}")
    k = len(lead)
    x = reshape(input, (*lead, c, h // r, r, w // r, r))
    x = permute(x, (*range(k), k, k + 2, k + 4, k + 1, k + 3))
    return reshape(x, (*lead, c * r * r, h // r, w // r))
