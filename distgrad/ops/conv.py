"""2-D convolution (cross-correlation, as PyTorch) and its transpose, by im2col and matrix products.

Forward: the padded input is viewed as sliding windows (no copy), gathered into columns
``cols`` of shape (groups, C/groups*kh*kw, N, OH*OW), and multiplied, one product per sample
and group, by the weight reshaped to (groups, O/groups, C/groups*kh*kw). Backward gathers the
columns again for the weight's gradient and scatters the columns' gradient back onto the
input with col2im. Conv2d runs the batch in chunks whose columns stay in the cache.

With stride 1 the columns hold whole padded rows (``row_windows``): gathering and
scattering them copies long contiguous runs, several times faster than rows of OW
elements, for (Wp - OW) / OW extra columns in the products, dropped from the output.

The transposed convolution is the same pair of maps the other way round: its forward is
the convolution's input gradient (col2im) and its input gradient the convolution's forward,
so both ops share ``_Geometry``.
"""
from ..amp import autocast_mode
from ..errors import OpRuntimeError, OpTypeError, OpValueError
from ..function import Function
from ._sliding import (add_row_windows, add_windows, crop_hw, output_size, pad_hw, padded_buffer, pair,
                       row_spare, row_windows, windows)
from .linalg import matmul_array


class _Geometry:
    """Where a convolution's windows lie on its (N, C, H, W) input: padding, sizes, layout."""

    def __init__(self, x_shape, weight_shape, stride, pad_before, pad_after, dilation, groups, out_hw=None):
        self.x_shape, self.stride, self.dilation, self.groups = tuple(x_shape), stride, dilation, groups
        self.pad_before, self.pad_after = pad_before, pad_after
        o, cg, kh, kw = weight_shape
        self.kernel, self.og, self.k = (kh, kw), o // groups, cg * kh * kw
        n, c, h, w = x_shape
        self.padded_shape = (n, c, h + pad_before[0] + pad_after[0], w + pad_before[1] + pad_after[1])
        hp, wp = self.padded_shape[-2:]
        # ``out_hw``: the first windows only (a transposed convolution's output_padding may
        # leave room for more than its input has).
        self.out_hw = out_hw or (output_size(hp, kh, stride[0], 0, dilation[0]),
                                 output_size(wp, kw, stride[1], 0, dilation[1]))
        self.rows = stride == (1, 1)  # the whole-rows layout
        self.width = wp if self.rows else self.out_hw[1]  # output columns per row, junk ones included

    def columns(self, xp, x):
        """im2col: (G, Cg*kh*kw, N, OH*width), the one copy of the input's windows."""
        if self.rows:
            flat, padded = padded_buffer(xp, x, self.pad_before, self.pad_after,
                                         spare=row_spare(self.kernel, self.dilation))
            view = row_windows(xp, flat, padded.shape, self.kernel, self.dilation, self.out_hw[0])
        else:
            padded = pad_hw(xp, x, self.pad_before, self.pad_after)
            view = windows(xp, padded, self.kernel, self.stride, self.dilation,
                           self.out_hw).transpose(1, 4, 5, 0, 2, 3)
        return xp.ascontiguousarray(view).reshape(self.groups, self.k, x.shape[0], -1)

    def product(self, xp, w2, cols):
        """weight x columns, as (N, O, OH, OW). One product per sample and group, read from
        cols' strided blocks: the result comes out in (N, O, ...) order, where one product over
        the whole batch would need a transposing copy (and is slower for few input channels)."""
        n, (oh, ow) = cols.shape[2], self.out_hw
        out = matmul_array(xp, w2, cols.transpose(2, 0, 1, 3)).reshape(n, -1, oh, self.width)
        return out if self.width == ow else out[..., :ow]

    def output_grad(self, xp, g):
        """The output's gradient as (O, N, OH, width), zero in the junk columns."""
        n, o = g.shape[:2]
        oh, ow = self.out_hw
        g_t = (xp.zeros if self.width != ow else xp.empty)((o, n, oh, self.width), dtype=g.dtype)
        g_t[..., :ow] = g.transpose(1, 0, 2, 3)
        return g_t

    def input_grad(self, xp, w2, g_t):
        """col2im of weight^T x the output's gradient: the (N, C, H, W) input's gradient."""
        o, n = g_t.shape[:2]
        c = self.x_shape[1]
        # One product per sample, as in ``product``: (N, G, Cg*kh*kw, OH*width).
        per_sample = g_t.reshape(self.groups, self.og, n, -1).transpose(2, 0, 1, 3)
        gcols = matmul_array(xp, w2.transpose(0, 2, 1), per_sample).reshape(n, c, *self.kernel, -1)
        padded_shape = (n,) + self.padded_shape[1:]  # n: this chunk's samples
        if self.rows:
            padded = add_row_windows(xp, padded_shape, gcols.transpose(1, 2, 3, 0, 4), self.kernel, self.dilation)
        else:
            per_tap = gcols.reshape(n, c, *self.kernel, *self.out_hw)
            padded = xp.zeros(padded_shape, dtype=g_t.dtype)
            add_windows(padded, lambda i, j: per_tap[:, :, i, j], self.kernel, self.stride, self.dilation,
                        self.out_hw)
        return crop_hw(padded, self.pad_before, self.x_shape[-2:])

    def weight_grad(self, xp, g_t, cols):
        """(O, Cg, kh, kw) from the output's gradient (O, N, OH, width) and the columns."""
        g2 = g_t.reshape(self.groups, self.og, -1)
        return matmul_array(xp, g2, cols.reshape(self.groups, self.k, -1).transpose(0, 2, 1)).reshape(
            self.groups * self.og, -1, *self.kernel)


def _bias_grad(g_t):
    """Sum over all but the channel axis of an (O, N, ...) gradient: contiguous rows."""
    return g_t.reshape(g_t.shape[0], -1).sum(axis=1)


def _with_bias(xp, out, bias):
    if bias is None:
        return out if out.flags.c_contiguous else xp.ascontiguousarray(out)
    return xp.add(out, bias.reshape(-1, 1, 1))


def _weight_matrix(weight, groups):
    o = weight.shape[0]
    return weight.reshape(groups, o // groups, -1)


def _grads(needs, gx, gw, gb):
    return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


class Conv2d(Function):
    """The batch runs in chunks whose columns fit in the cache (``CHUNK_BYTES``): each chunk's
    columns are gathered, multiplied and dropped, and gathered again for the weight's gradient,
    which costs a copy but spares main memory the whole batch's columns, written once and read
    twice."""
    saves_inputs = True
    CHUNK_BYTES = 1 << 20  # 1 MiB beat 4 MiB and one chunk at batch 32, 128 and 512 (benchmarks.step_time's CNN)

    def forward(self, xp, x, weight, bias=None, stride=(1, 1), pad_before=(0, 0), pad_after=(0, 0),
                dilation=(1, 1), groups=1):
        geometry = _Geometry(x.shape, weight.shape, stride, pad_before, pad_after, dilation, groups)
        w2 = _weight_matrix(weight, groups)
        per_sample = geometry.k * groups * geometry.out_hw[0] * geometry.width * x.itemsize
        # Cache-sized chunks pay on a CPU only: on a GPU each chunk is a round of kernel
        # launches, and the whole batch's columns are one.
        self.step = step = max(1, self.CHUNK_BYTES // per_sample) if xp.__name__ == "numpy" else x.shape[0]
        self.saved, self.geometry = (x if self.needs_grad[1] else None, w2), geometry
        if step >= x.shape[0]:
            out = geometry.product(xp, w2, geometry.columns(xp, x))
        else:
            out = xp.empty((x.shape[0], weight.shape[0], *geometry.out_hw), dtype=x.dtype)
            for start in range(0, x.shape[0], step):
                out[start:start + step] = geometry.product(xp, w2, geometry.columns(xp, x[start:start + step]))
        return _with_bias(xp, out, bias)

    def backward(self, xp, g):
        x, w2 = self.saved
        geometry, needs, step = self.geometry, self.needs_grad, self.step
        gx = xp.empty(geometry.x_shape, dtype=g.dtype) if needs[0] else None
        gw = gb = None
        for start in range(0, g.shape[0], step):
            g_t = geometry.output_grad(xp, g[start:start + step])
            if needs[0]:
                gx[start:start + step] = geometry.input_grad(xp, w2, g_t)
            if needs[1]:
                part = geometry.weight_grad(xp, g_t, geometry.columns(xp, x[start:start + step]))
                gw = part if gw is None else xp.add(gw, part, out=gw)
            if len(needs) == 3 and needs[2]:
                part = _bias_grad(g_t)
                gb = part if gb is None else xp.add(gb, part, out=gb)
        return _grads(needs, gx, gw, gb)


class ConvTranspose2d(Function):
    """The adjoint of Conv2d in its input: ``geometry`` is that of the convolution taking this
    op's output shape to its input shape."""
    saves_inputs = True

    def forward(self, xp, x, weight, bias=None, geometry=None):
        w2 = _weight_matrix(weight, geometry.groups)
        x_t = geometry.output_grad(xp, x)  # x plays the convolution's output gradient
        self.saved, self.geometry = (x_t if self.needs_grad[1] else None, w2), geometry
        return _with_bias(xp, geometry.input_grad(xp, w2, x_t), bias)

    def backward(self, xp, g):
        x_t, w2 = self.saved
        geometry, needs = self.geometry, self.needs_grad
        cols = geometry.columns(xp, g)
        gx = geometry.product(xp, w2, cols) if needs[0] else None
        gw = geometry.weight_grad(xp, x_t, cols) if needs[1] else None
        gb = g.sum(axis=(0, 2, 3)) if len(needs) == 3 and needs[2] else None
        return _grads(needs, gx, gw, gb)


def _padding(padding, kernel, dilation, stride, op):
    """PyTorch's padding argument (int, pair, 'valid' or 'same') as (before, after) pairs."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise OpValueError(op, f"padding='same' is not supported for strided convolutions "
                                   f"(stride={stride})")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        before = tuple(t // 2 for t in total)
        return before, tuple(t - b for t, b in zip(total, before))
    if isinstance(padding, str):
        raise OpValueError(op, f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    p = pair(padding, "padding", op)
    return p, p


def _check_dtypes(op, *tensors):
    dtypes = {t.dtype for t in tensors if t is not None}
    if len(dtypes) > 1:
        raise OpTypeError(op, f"input ({tensors[0].dtype}), weight ({tensors[1].dtype}) and bias must have one "
                              f"dtype; convert the input with .to({tensors[1].dtype})")


def _check_bias(op, bias, channels, weight):
    if bias is not None and tuple(bias.shape) != (channels,):
        raise OpRuntimeError(op, f"bias of shape {tuple(bias.shape)} does not match the {channels} output "
                                 f"channels (weight {tuple(weight.shape)})")


def _positive(op, stride, dilation):
    if 0 in stride or 0 in dilation:
        raise OpValueError(op, f"stride {stride} and dilation {dilation} must be positive")


def _prepare(op, input, weight, bias, stride, dilation, layout):
    """Autocast's dtype, a batch of one for a 3-D input, the 4-D check, stride and dilation as
    positive pairs: (input, weight, bias, unbatched, stride, dilation)."""
    if autocast_mode.active:  # matmul-class: in the low dtype under autocast
        input, weight, bias = autocast_mode.to_low(input, weight, bias)
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input.ndim != 4 or weight.ndim != 4:
        raise OpRuntimeError(op, f"expected a 3-D or 4-D input (N, C, H, W) and a 4-D weight ({layout}), got "
                                 f"input of shape {tuple(input.shape)} and weight of shape {tuple(weight.shape)}")
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    _positive(op, stride, dilation)
    return input, weight, bias, unbatched, stride, dilation


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, op="conv2d"):
    """Cross-correlate (N, C, H, W) ``input`` with (O, C/groups, kh, kw) ``weight``."""
    input, weight, bias, unbatched, stride, dilation = _prepare(op, input, weight, bias, stride, dilation,
                                                                "O, C/groups, kh, kw")
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    if groups < 1 or c % groups or o % groups:
        raise OpRuntimeError(op, f"groups={groups} must divide both the input's {c} channels and the "
                                 f"weight's {o} output channels (input {tuple(input.shape)}, weight "
                                 f"{tuple(weight.shape)})")
    if c != cg * groups:
        raise OpRuntimeError(op, f"input of shape {tuple(input.shape)} has {c} channels but weight of "
                                 f"shape {tuple(weight.shape)} expects {cg * groups} (groups={groups})")
    _check_bias(op, bias, o, weight)
    _check_dtypes(op, input, weight, bias)
    before, after = _padding(padding, (kh, kw), dilation, stride, op)
    for axis, size, k, d in ((0, h, kh, dilation[0]), (1, w, kw, dilation[1])):
        padded = size + before[axis] + after[axis]
        if d * (k - 1) + 1 > padded:
            raise OpRuntimeError(op, f"kernel of size {(kh, kw)} (dilation {dilation}) is larger than "
                                     f"the padded input ({h + before[0] + after[0]}, "
                                     f"{w + before[1] + after[1]}); input {tuple(input.shape)}, "
                                     f"padding {padding}")
    tensors = (input, weight) if bias is None else (input, weight, bias)
    out = Conv2d.apply(*tensors, stride=stride, pad_before=before, pad_after=after, dilation=dilation,
                       groups=groups)
    return out.squeeze(0) if unbatched else out


def _single(value, name, op):
    """conv1d's int or 1-tuple argument as the (1, value) pair of the height-1 conv2d."""
    if not isinstance(value, int):
        value = tuple(value)
        if len(value) != 1:
            raise OpValueError(op, f"{name} must be an int or a 1-tuple, got {value}")
        value = value[0]
    return (1 if name in ("stride", "dilation") else 0, value)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlate (N, C, L) ``input`` with (O, C/groups, k) ``weight``: conv2d over a
    height-1 view (the row layout then gathers each sample's whole length as one run)."""
    if input.ndim not in (2, 3) or weight.ndim != 3:
        raise OpRuntimeError("conv1d", "expected a 2-D or 3-D input (N, C, L) and a 3-D weight (O, C/groups, k), "
                                       f"got input of shape {tuple(input.shape)} and weight of shape "
                                       f"{tuple(weight.shape)}")
    if input.shape[-2] != weight.shape[1] * groups:
        raise OpRuntimeError("conv1d", f"input of shape {tuple(input.shape)} has {input.shape[-2]} channels but "
                                       f"weight of shape {tuple(weight.shape)} expects {weight.shape[1] * groups} "
                                       f"(groups={groups})")
    if not isinstance(padding, str):
        padding = _single(padding, "padding", "conv1d")
    out = conv2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, _single(stride, "stride", "conv1d"), padding,
                 _single(dilation, "dilation", "conv1d"), groups, op="conv1d")
    return out.squeeze(-2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     op="conv_transpose2d"):
    """The transposed convolution of (N, C, H, W) ``input`` with (C, O/groups, kh, kw) ``weight``:
    the gradient of conv2d with respect to its input."""
    input, weight, bias, unbatched, stride, dilation = _prepare(op, input, weight, bias, stride, dilation,
                                                                "C, O/groups, kh, kw")
    pad, extra = pair(padding, "padding", op), pair(output_padding, "output_padding", op)
    n, c, h, w = input.shape
    cin, og, kh, kw = weight.shape
    if groups < 1 or cin % groups:
        raise OpRuntimeError(op, f"groups={groups} must divide the weight's {cin} input channels (weight "
                                 f"{tuple(weight.shape)})")
    if c != cin:
        raise OpRuntimeError(op, f"input of shape {tuple(input.shape)} has {c} channels but weight of shape "
                                 f"{tuple(weight.shape)} expects {cin}")
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise OpValueError(op, f"output_padding {extra} must be smaller than either stride {stride} or "
                               f"dilation {dilation}")
    _check_bias(op, bias, og * groups, weight)
    _check_dtypes(op, input, weight, bias)
    out_hw = tuple((size - 1) * s - 2 * p + d * (k - 1) + e + 1 for size, s, p, d, k, e in
                   zip((h, w), stride, pad, dilation, (kh, kw), extra))
    if min(out_hw) < 1:
        raise OpRuntimeError(op, f"input of shape {tuple(input.shape)} with padding {pad} gives output size "
                                 f"{out_hw}; use less padding")
    # The convolution from the output back to the input, padded by ``pad``: its first (H, W)
    # windows are the input's positions.
    geometry = _Geometry((n, og * groups, *out_hw), weight.shape, stride, pad, pad, dilation, groups, out_hw=(h, w))
    tensors = (input, weight) if bias is None else (input, weight, bias)
    out = ConvTranspose2d.apply(*tensors, geometry=geometry)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transposed convolution of (N, C, L) ``input`` with (C, O/groups, k) ``weight``."""
    if input.ndim not in (2, 3) or weight.ndim != 3:
        raise OpRuntimeError("conv_transpose1d", "expected a 2-D or 3-D input (N, C, L) and a 3-D weight "
                                                 f"(C, O/groups, k), got input of shape {tuple(input.shape)} "
                                                 f"and weight of shape {tuple(weight.shape)}")
    args = [_single(v, name, "conv_transpose1d") for v, name in
            ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"), (dilation, "dilation"))]
    out = conv_transpose2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, args[0], args[1], args[2], groups,
                           args[3], op="conv_transpose1d")
    return out.squeeze(-2)
