"""Sliding windows over the last two axes, shared by convolution and pooling.

``windows`` is im2col without the copy: a strided view in which every output position sees
its kernel-sized patch. ``add_windows`` is its adjoint (col2im): it scatter-adds a gradient
per kernel position back onto the input, one strided slice per position, so the Python
loop runs kh*kw times, never once per pixel.

``row_windows`` / ``add_row_windows`` are the same pair for stride 1 in a layout made for
speed: for each kernel position, the output rows are read as one run of whole padded rows
(the positions past the last window of a row are junk that the caller drops), so copying
them moves long contiguous runs instead of rows of OW elements.
"""
from ..errors import OpValueError


def pair(value, name, op):
    """An int or a pair of ints as a tuple of two non-negative ints."""
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or any(v < 0 for v in value):
        raise OpValueError(op, f"{name} must be a non-negative int or a pair of them, got {value}")
    return value


def output_size(size, kernel, stride, pad, dilation, ceil_mode=False):
    """Positions a window of ``kernel`` taps (``dilation`` apart) takes along one axis."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad:  # the last window would start inside the right padding
            out -= 1
        return out
    return span // stride + 1


def windows(xp, x, kernel, stride, dilation, out_hw):
    """A view of ``x`` (..., H, W) with shape (..., OH, OW, kh, kw); no data is copied."""
    *lead, _, _ = x.shape
    *lead_strides, sh, sw = x.strides
    shape = (*lead, *out_hw, *kernel)
    strides = (*lead_strides, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1])
    # Read-only by convention (CuPy's as_strided has no ``writeable`` flag): nothing writes to it.
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def add_windows(target, piece, kernel, stride, dilation, out_hw):
    """col2im: ``target[..., window taps] += piece(i, j)`` for every kernel position (i, j).

    ``target`` is (..., Hp, Wp); ``piece(i, j)`` broadcasts to (..., OH, OW). Within one kernel
    position the taps of different windows never overlap, so a plain ``+=`` is exact."""
    for i, j, rows, cols in tap_slices(kernel, stride, dilation, out_hw):
        target[..., rows, cols] += piece(i, j)
    return target


def tap_slices(kernel, stride, dilation, out_hw):
    """(i, j, rows, cols) per kernel position: ``x[..., rows, cols]`` is (..., OH, OW), the
    element each window takes at its tap (i, j)."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    for i in range(kernel[0]):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kernel[1]):
            yield i, j, rows, slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)


def pad_hw(xp, x, before, after, value=0):
    """Pad the last two axes (``before``/``after`` are (rows, cols) pairs)."""
    if not any(before) and not any(after):
        return x
    return padded_buffer(xp, x, before, after, value)[1]


def padded_buffer(xp, x, before, after, value=0, spare=0):
    """``x`` padded on its last two axes, inside a flat buffer with ``spare`` more elements
    at its end: (buffer, padded view). Faster than ``xp.pad``: one fill, one copy."""
    *lead, h, w = x.shape
    shape = (*lead, h + before[0] + after[0], w + before[1] + after[1])
    size = 1
    for d in shape:
        size *= d
    flat = xp.full(size + spare, value, dtype=x.dtype)
    padded = flat[:size].reshape(shape)
    padded[..., before[0]:before[0] + h, before[1]:before[1] + w] = x
    return flat, padded


def row_spare(kernel, dilation):
    """Elements past the last padded row that ``row_windows``' last run reaches."""
    return (kernel[1] - 1) * dilation[1]


def row_windows(xp, flat, padded_shape, kernel, dilation, rows):
    """Stride-1 im2col without the copy, channels first: a (C, kh, kw, N, rows * Wp) view
    of the padded (N, C, Hp, Wp) array stored in ``flat``, holding for each tap (i, j) the
    ``rows`` padded rows that start at that tap, as one run. ``flat`` needs ``row_spare``
    elements after the padded array."""
    n, c, hp, wp = padded_shape
    s = flat.itemsize
    strides = (hp * wp * s, dilation[0] * wp * s, dilation[1] * s, c * hp * wp * s, s)
    return xp.lib.stride_tricks.as_strided(flat, shape=(c, *kernel, n, rows * wp), strides=strides)


def add_row_windows(xp, padded_shape, runs, kernel, dilation):
    """The adjoint of ``row_windows``: a zero padded array with ``runs`` (C, kh, kw, N,
    rows * Wp) added back at their taps, one tap at a time (within a tap no two meet)."""
    n, c, hp, wp = padded_shape
    size = n * c * hp * wp
    flat = xp.zeros(size + row_spare(kernel, dilation), dtype=runs.dtype)
    s = flat.itemsize
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            start = i * dilation[0] * wp + j * dilation[1]
            target = xp.lib.stride_tricks.as_strided(flat[start:], shape=(c, n, runs.shape[-1]),
                                                     strides=(hp * wp * s, c * hp * wp * s, s))
            target += runs[:, i, j]
    return flat[:size].reshape(padded_shape)


def crop_hw(x, before, size):
    """The inverse of ``pad_hw``: the (H, W) block starting at ``before``."""
    return x[..., before[0]:before[0] + size[0], before[1]:before[1] + size[1]]
