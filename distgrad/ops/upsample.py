"""interpolate (PyTorch's F.interpolate): nearest, nearest-exact, (bi/tri)linear and area resizing.

Each spatial dim is resampled on its own, the last first, with PyTorch's source positions
(``_positions``): nearest picks one input element per output position; linear mixes the two
around it, ``l0 * x[i0] + l1 * x[i1]``. Built from integer indexing and products, so the
gradient (the transposed spreading) comes from their backward.
"""
import math

import numpy

from ..errors import OpNotImplementedError, OpRuntimeError, OpValueError
from ._util import require_floating
from .indexing import getitem
from .pooling import adaptive_avg_pool1d, adaptive_avg_pool2d

LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _output_sizes(input, size, scale_factor, spatial):
    sizes, scales = _requested_sizes(input, size, scale_factor, spatial)
    if any(s <= 0 for s in sizes):
        raise OpRuntimeError("interpolate", f"output sizes must be greater than 0, got {sizes} for an input of "
                                            f"shape {tuple(input.shape)} (size={size}, scale_factor={scale_factor})")
    return sizes, scales


def _requested_sizes(input, size, scale_factor, spatial):
    if (size is None) == (scale_factor is None):
        raise OpValueError("interpolate", "either size or scale_factor should be defined, not both and not neither")
    if size is not None:
        sizes = [size] * spatial if isinstance(size, int) else list(size)
        if len(sizes) != spatial:
            raise OpValueError("interpolate", f"Input and output must have the same number of spatial dimensions, "
                                              f"but got input with spatial dimensions of {list(input.shape[2:])} "
                                              f"and output size of {sizes}")
        return [int(s) for s in sizes], [None] * spatial
    scales = [scale_factor] * spatial if isinstance(scale_factor, (int, float)) else list(scale_factor)
    if len(scales) != spatial:
        raise OpValueError("interpolate", f"scale_factor {scale_factor} must have one entry per spatial dim "
                                          f"({spatial}) of input of shape {tuple(input.shape)}")
    return [int(math.floor(s * f)) for s, f in zip(input.shape[2:], scales)], [float(f) for f in scales]


def _positions(mode, in_size, out_size, scale, align_corners):
    """PyTorch's source index (or indices and weights) of each output position, on the host."""
    dst = numpy.arange(out_size, dtype=numpy.float64)
    if mode in ("nearest", "nearest-exact"):
        step = 1 / scale if scale else in_size / out_size
        offset = 0.5 if mode == "nearest-exact" else 0.0
        return numpy.minimum(numpy.floor((dst + offset) * numpy.float32(step)), in_size - 1).astype(numpy.int64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        step = 1 / scale if scale else in_size / out_size
        src = numpy.maximum((dst + 0.5) * step - 0.5, 0.0)
    low = numpy.floor(src).astype(numpy.int64)
    high = numpy.minimum(low + 1, in_size - 1)
    return low, high, src - low


def _area(input, sizes):
    """Adaptive average pooling to the output sizes. A box average is separable, so a 3-D input pools
    its (H, W) planes first, then its depth (a pool of the (D, h * w) planes that keeps their width)."""
    if len(sizes) == 1:
        return adaptive_avg_pool1d(input, sizes[0])
    if len(sizes) == 2:
        return adaptive_avg_pool2d(input, sizes)
    N, C, D, H, W = input.shape
    d, h, w = sizes
    planes = adaptive_avg_pool2d(input.reshape(N, C * D, H, W), (h, w))
    return adaptive_avg_pool2d(planes.reshape(N, C, D, h * w), (d, h * w)).reshape(N, C, d, h, w)


def _along(x, axis, index):
    return getitem(x, (slice(None),) * axis + (x.xp.asarray(index),))


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    spatial = input.ndim - 2
    if spatial < 1:
        raise OpValueError("interpolate", f"expected an input of shape (N, C, d1, ...), got {tuple(input.shape)}")
    if antialias:
        raise OpNotImplementedError("interpolate", "antialias=True is not supported")
    if mode in LINEAR_MODES:
        if LINEAR_MODES[mode] != spatial:
            raise OpNotImplementedError("interpolate", f"mode {mode!r} needs a {LINEAR_MODES[mode] + 2}-D input, "
                                                       f"got shape {tuple(input.shape)}")
        require_floating("interpolate", input)
    elif mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise OpValueError("interpolate", "align_corners option can only be set with the interpolating "
                                              "modes: linear | bilinear | bicubic | trilinear")
    else:
        raise OpNotImplementedError("interpolate", f"mode {mode!r} is not supported; use nearest, "
                                                   "nearest-exact, linear, bilinear, trilinear or area")
    sizes, scales = _output_sizes(input, size, scale_factor, spatial)
    if recompute_scale_factor:
        scales = [None] * spatial
    if mode == "area":
        return _area(input, sizes)
    out = input
    for axis in reversed(range(2, input.ndim)):
        in_size, out_size, scale = input.shape[axis], sizes[axis - 2], scales[axis - 2]
        if mode in ("nearest", "nearest-exact"):
            out = _along(out, axis, _positions(mode, in_size, out_size, scale, False))
            continue
        if in_size == out_size:  # PyTorch's linear modes copy such a dim, whatever the scale factor
            continue
        low, high, frac = _positions(mode, in_size, out_size, scale, bool(align_corners))
        shape = (-1,) + (1,) * (input.ndim - 1 - axis)
        weights = [out._wrap(out.xp.asarray(w.reshape(shape), dtype=out.array.dtype)) for w in (1 - frac, frac)]
        out = weights[0] * _along(out, axis, low) + weights[1] * _along(out, axis, high)
    return out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)
