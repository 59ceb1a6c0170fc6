"""2-D pooling: max, average and adaptive average, on strided windows (see _sliding.py)."""
from ..errors import OpRuntimeError, OpValueError
from ..function import Function
from ._sliding import add_windows, crop_hw, output_size, pad_hw, pair, tap_slices, windows
from .indexing import gather


class _Geometry:
    """Where the windows of one pooling call lie: kernel, stride, padding, dilation, sizes."""

    def __init__(self, shape, kernel_size, stride, padding, dilation, ceil_mode, op):
        if len(shape) not in (3, 4):
            raise OpRuntimeError(op, f"expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                                     f"{tuple(shape)}")
        self.kernel = pair(kernel_size, "kernel_size", op)
        self.stride = self.kernel if stride is None or stride == [] else pair(stride, "stride", op)
        self.pad = pair(padding, "padding", op)
        self.dilation = pair(dilation, "dilation", op)
        if 0 in self.kernel or 0 in self.stride or 0 in self.dilation:
            raise OpValueError(op, f"kernel_size {self.kernel}, stride {self.stride} and dilation "
                                   f"{self.dilation} must be positive")
        if any(p > k // 2 for p, k in zip(self.pad, self.kernel)):
            raise OpRuntimeError(op, f"padding {self.pad} should be at most half of the kernel size "
                                     f"{self.kernel}")
        self.in_hw = tuple(shape[-2:])
        self.out_hw = tuple(output_size(s, k, st, p, d, ceil_mode) for s, k, st, p, d in
                            zip(self.in_hw, self.kernel, self.stride, self.pad, self.dilation))
        if min(self.out_hw) < 1:
            raise OpRuntimeError(op, f"kernel {self.kernel} (dilation {self.dilation}, padding {self.pad}) "
                                     f"is larger than the padded input; input of shape {tuple(shape)} gives "
                                     f"output size {self.out_hw}")
        self.overlapping = any(s < d * (k - 1) + 1 for s, d, k in zip(self.stride, self.dilation, self.kernel))
        # The windows tile the input: each element lies in exactly one window.
        self.tiles = (self.pad == (0, 0) and self.dilation == (1, 1) and self.stride == self.kernel and
                      all(o * k == s for o, k, s in zip(self.out_hw, self.kernel, self.in_hw)))
        # ceil_mode's last window may reach past the padding: pad the far side further.
        self.pad_after = tuple(
            max(p, (o - 1) * st + d * (k - 1) + 1 - s - p) for s, k, st, p, d, o in
            zip(self.in_hw, self.kernel, self.stride, self.pad, self.dilation, self.out_hw))

    def padded(self, xp, x, value):
        return pad_hw(xp, x, self.pad, self.pad_after, value)

    def windows(self, xp, padded):
        return windows(xp, padded, self.kernel, self.stride, self.dilation, self.out_hw)

    def scatter(self, xp, g, padded_shape, piece):
        """The input's gradient: ``piece(i, j)`` added at every window's tap (i, j)."""
        target = xp.zeros(padded_shape, dtype=g.dtype)
        add_windows(target, piece, self.kernel, self.stride, self.dilation, self.out_hw)
        return crop_hw(target, self.pad, self.in_hw)

    def flat_indices(self, xp, tap):
        """Positions (row * W + col) in the unpadded input of the taps chosen per window."""
        (oh, ow), kw = self.out_hw, self.kernel[1]
        tap = tap.astype(xp.int64)  # a narrow integer type could overflow below
        rows = xp.arange(oh).reshape(-1, 1) * self.stride[0] - self.pad[0] + (tap // kw) * self.dilation[0]
        cols = xp.arange(ow) * self.stride[1] - self.pad[1] + (tap % kw) * self.dilation[1]
        return (rows * self.in_hw[1] + cols).astype(xp.int64)


class MaxPool2d(Function):
    def forward(self, xp, x, geometry):
        lowest = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        padded = geometry.padded(xp, x, lowest)
        win = geometry.windows(xp, padded)
        kh, kw = geometry.kernel
        # Gather the taps once into a contiguous (kh*kw, N, C, OH, OW) array: every pass below
        # then reads contiguous memory, several times faster than passes over strided views.
        taps = xp.stack([win[..., k // kw, k % kw] for k in range(kh * kw)])
        if xp.__name__ == "numpy":
            best, tap = _running_max_tap(xp, taps)
        else:  # a few whole-array calls: a GPU pays per launch, not per pass
            best, tap = _reduced_max_tap(xp, taps)
        self.tap = geometry.tap = tap  # geometry's for return_indices, also when no node is recorded
        self.geometry, self.padded_shape = geometry, padded.shape
        return best

    def backward(self, xp, g):
        geometry, kw = self.geometry, self.geometry.kernel[1]
        if geometry.tiles and xp.__name__ != "numpy":
            return (_tiled_max_grad(xp, g, self.tap, geometry.kernel),)
        # Tiling windows write every element below once: no zero fill needed.
        target = (xp.empty if geometry.tiles else xp.zeros)(self.padded_shape, dtype=g.dtype)
        for i, j, rows, cols in tap_slices(geometry.kernel, geometry.stride, geometry.dilation, geometry.out_hw):
            chosen = self.tap == i * kw + j
            if geometry.overlapping:
                target[..., rows, cols] += g * chosen
            else:  # each element is in one window at most: write the gradient in place, no add
                xp.multiply(g, chosen, out=target[..., rows, cols])
        return (crop_hw(target, geometry.pad, geometry.in_hw),)


# Both pick the tap by PyTorch's rule: a strictly larger value or a NaN takes over, so the
# first maximum and the last NaN win.
def _running_max_tap(xp, taps):
    """The maximum over the taps (axis 0) and its tap, by a running maximum (NumPy: passes over
    contiguous memory beat a reduction over the short tap axis)."""
    best = taps[0].copy()
    tap = xp.zeros(best.shape, dtype=xp.uint8 if len(taps) <= 256 else xp.int32)
    for k in range(1, len(taps)):
        value = taps[k]
        better = value > best
        better |= value != value
        tap += better * (k - tap)  # where(better, k, tap): k > tap, and faster than where
        xp.maximum(best, value, out=best)  # the same values (NaN propagates)
    return best, tap


def _reduced_max_tap(xp, taps):
    """The same by reductions over the tap axis, a fixed number of launches for any kernel size."""
    best = taps.max(axis=0)  # NaN propagates
    first = taps.argmax(axis=0)  # the first maximum, or the first NaN
    if taps.dtype.kind != "f":
        return best, first
    last_nan = (len(taps) - 1) - xp.isnan(taps[::-1]).argmax(axis=0)
    return best, xp.where(xp.isnan(best), last_nan, first)


def _tiled_max_grad(xp, g, tap, kernel):
    """Windows that tile the input: each tap's gradient laid out at once, (N, C, OH, kh, OW, kw)
    being the input's own layout (three launches on a GPU, not two per tap)."""
    kh, kw = kernel
    n, c, oh, ow = g.shape
    chosen = tap[..., None] == xp.arange(kh * kw, dtype=tap.dtype)  # (N, C, OH, OW, kh*kw)
    per_tap = (g[..., None] * chosen).reshape(n, c, oh, ow, kh, kw)
    return xp.ascontiguousarray(per_tap.transpose(0, 1, 2, 4, 3, 5)).reshape(n, c, oh * kh, ow * kw)


class AvgPool2d(Function):
    def forward(self, xp, x, geometry, count_include_pad, divisor_override):
        padded = geometry.padded(xp, x, 0)
        if divisor_override:
            divisor = divisor_override
        else:
            rows, cols = (_divisors(xp, *axis, count_include_pad) for axis in
                          zip(geometry.in_hw, geometry.out_hw, geometry.kernel, geometry.stride, geometry.pad))
            divisor = (rows.reshape(-1, 1) * cols).astype(x.dtype)
        self.geometry, self.padded_shape, self.divisor = geometry, padded.shape, divisor
        return geometry.windows(xp, padded).sum(axis=(-2, -1)) / divisor

    def backward(self, xp, g):
        share = g / self.divisor
        return (self.geometry.scatter(xp, g, self.padded_shape, lambda i, j: share),)


def _divisors(xp, size, out, kernel, stride, pad, count_include_pad):
    """How many taps each window averages along one axis (PyTorch's rule: padding counts
    when ``count_include_pad``, the extra ceil_mode overhang never does)."""
    start = xp.arange(out) * stride - pad
    end = xp.minimum(start + kernel, size + pad)
    if count_include_pad:
        return end - start
    return xp.minimum(end, size) - xp.maximum(start, 0)


class AdaptiveAvgPool2d(Function):
    """Average over PyTorch's adaptive bins, as two averaging matrices: A_h @ x @ A_w.T."""

    def forward(self, xp, x, out_hw):
        self.rows = _bin_matrix(xp, x.shape[-2], out_hw[0], x.dtype)
        self.cols = _bin_matrix(xp, x.shape[-1], out_hw[1], x.dtype)
        return self.rows @ x @ self.cols.T

    def backward(self, xp, g):
        return (self.rows.T @ g @ self.cols,)


def _bin_matrix(xp, size, out, dtype):
    matrix = xp.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


# ---------------------------------------------------------------- functional API

def _batched(fn, input, *args):
    """Run ``fn`` on a 4-D input; a 3-D (C, H, W) input gets a batch of one."""
    if input.ndim != 3:
        return fn(input, *args)
    out = fn(input.unsqueeze(0), *args)
    return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    geometry = _Geometry(input.shape, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")

    def pool(x):
        out = MaxPool2d.apply(x, geometry=geometry)
        if not return_indices:
            return out
        return out, x._wrap(geometry.flat_indices(x.xp, geometry.tap))
    return _batched(pool, input)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    geometry = _Geometry(input.shape, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    return _batched(lambda x: AvgPool2d.apply(x, geometry=geometry, count_include_pad=count_include_pad,
                                              divisor_override=divisor_override), input)


def adaptive_avg_pool2d(input, output_size):
    if input.ndim not in (3, 4):
        raise OpRuntimeError("adaptive_avg_pool2d", "expected a 3-D or 4-D input, got shape "
                                                    f"{tuple(input.shape)}")
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    out_hw = tuple(s if o is None else int(o) for s, o in zip(input.shape[-2:], sizes))
    if len(sizes) != 2 or min(out_hw) < 0:  # 0 is allowed, as in PyTorch: an empty output
        raise OpValueError("adaptive_avg_pool2d", "output_size must be one or two non-negative ints (or None), "
                                                  f"got {output_size}")
    return AdaptiveAvgPool2d.apply(input, out_hw=out_hw)


# ---------------------------------------------------------------- 1-D pooling and adaptive max

def _single(value, name):
    """A 1-D pooling argument (int or 1-tuple) as the (1, value) pair of the height-1 2-D op."""
    if value is None:
        return None
    if not isinstance(value, int):
        value = tuple(value)
        if len(value) != 1:
            raise OpValueError(name, f"expected an int or a 1-tuple, got {value}")
        value = value[0]
    return (1 if name != "padding" else 0, value)


def _check_1d(op, input):
    if input.ndim not in (2, 3):
        raise OpRuntimeError(op, f"expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {tuple(input.shape)}")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """max_pool2d over a height-1 view (its flat indices are then the positions along L)."""
    _check_1d("max_pool1d", input)
    out = max_pool2d(input.unsqueeze(-2), _single(kernel_size, "kernel_size"),
                     _single(stride if stride != [] else None, "stride"), _single(padding, "padding"),
                     _single(dilation, "dilation"), ceil_mode, return_indices)
    return tuple(o.squeeze(-2) for o in out) if return_indices else out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    _check_1d("avg_pool1d", input)
    return avg_pool2d(input.unsqueeze(-2), _single(kernel_size, "kernel_size"),
                      _single(stride if stride != [] else None, "stride"), _single(padding, "padding"),
                      ceil_mode, count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(input, output_size):
    _check_1d("adaptive_avg_pool1d", input)
    size = output_size if isinstance(output_size, int) else tuple(output_size)[0]
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def _bins(size, out):
    """PyTorch's adaptive bins along one axis: [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The maximum over each of PyTorch's adaptive bins. The winners' flat positions are found
    on the arrays (the first maximum, or a NaN); the values are gathered from the input at them,
    so the gradient goes to exactly those elements."""
    if input.ndim not in (3, 4):
        raise OpRuntimeError("adaptive_max_pool2d", f"expected a 3-D or 4-D input, got shape {tuple(input.shape)}")
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 2:
        raise OpValueError("adaptive_max_pool2d", f"output_size must be one or two ints (or None), got {output_size}")
    h, w = input.shape[-2:]
    oh, ow = (s if o is None else int(o) for s, o in ((h, sizes[0]), (w, sizes[1])))
    if min(h, w) < 1 or min(oh, ow) < 1:
        raise OpRuntimeError("adaptive_max_pool2d", f"input of shape {tuple(input.shape)} and output size "
                                                    f"{(oh, ow)} must both be non-empty")
    xp, x = input.xp, input.array
    index = xp.empty(x.shape[:-2] + (oh, ow), dtype=xp.int64)
    for i, (r0, r1) in enumerate(_bins(h, oh)):
        for j, (c0, c1) in enumerate(_bins(w, ow)):
            window = x[..., r0:r1, c0:c1].reshape(x.shape[:-2] + (-1,))
            tap = xp.argmax(window, axis=-1)  # NaN counts as the maximum, as PyTorch's
            index[..., i, j] = (r0 + tap // (c1 - c0)) * w + c0 + tap % (c1 - c0)
    flat = input.reshape(*input.shape[:-2], h * w)
    out = gather(flat, -1, input._wrap(index.reshape(index.shape[:-2] + (-1,)))).reshape(*index.shape)
    return (out, input._wrap(index)) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    _check_1d("adaptive_max_pool1d", input)
    size = output_size if isinstance(output_size, int) else tuple(output_size)[0]
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, size), return_indices)
    return tuple(o.squeeze(-2) for o in out) if return_indices else out.squeeze(-2)
