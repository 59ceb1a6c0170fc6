"""2-D convolution (cross-correlation, as PyTorch) by im2col and one matrix product per group.

Forward: the padded input is viewed as sliding windows (no copy), gathered once into columns
``cols`` of shape (groups, C/groups*kh*kw, N*OH*OW), and multiplied by the weight reshaped to
(groups, O/groups, C/groups*kh*kw): a single batched matmul covers every group (one large
product is faster than one per sample). Backward reuses ``cols`` for the weight's gradient
and scatters the columns' gradient back onto the input with col2im.

With stride 1 the columns hold whole padded rows (``row_windows``): gathering and
scattering them copies long contiguous runs, several times faster than rows of OW
elements, for (Wp - OW) / OW extra columns in the products, dropped from the output.
"""
from ..errors import OpRuntimeError, OpTypeError, OpValueError
from ..function import Function
from ._sliding import (add_row_windows, add_windows, crop_hw, output_size, pad_hw, padded_buffer, pair,
                       row_spare, row_windows, windows)


class Conv2d(Function):
    saves_inputs = True

    def forward(self, xp, x, weight, bias=None, stride=(1, 1), pad_before=(0, 0), pad_after=(0, 0),
                dilation=(1, 1), groups=1):
        n = x.shape[0]
        o, cg, kh, kw = weight.shape
        if stride == (1, 1):
            flat, padded = padded_buffer(xp, x, pad_before, pad_after, spare=row_spare((kh, kw), dilation))
        else:
            flat, padded = None, pad_hw(xp, x, pad_before, pad_after)
        hp, wp = padded.shape[-2:]
        oh, ow = out_hw = (output_size(hp, kh, stride[0], 0, dilation[0]),
                           output_size(wp, kw, stride[1], 0, dilation[1]))
        if flat is not None:
            width = wp  # output columns per row, the junk ones past ow included
            view = row_windows(xp, flat, padded.shape, (kh, kw), dilation, oh)
        else:
            width = ow
            view = windows(xp, padded, (kh, kw), stride, dilation, out_hw).transpose(1, 4, 5, 0, 2, 3)
        # (C, kh, kw, N, OH*width) -> (G, Cg*kh*kw, N, OH*width): the one im2col copy.
        cols = xp.ascontiguousarray(view).reshape(groups, cg * kh * kw, n, -1)
        w2 = weight.reshape(groups, o // groups, cg * kh * kw)
        # One product per sample and group, read from cols' strided (Cg*kh*kw, OH*width) blocks:
        # the result comes out in (N, O, ...) order, where one product over the whole batch
        # would need a transposing copy (and is slower for few input channels).
        product = xp.matmul(w2, cols.transpose(2, 0, 1, 3)).reshape(n, o, oh, width)
        if width != ow:
            product = product[..., :ow]
        if bias is None:
            out = product if width == ow else xp.ascontiguousarray(product)
        else:
            out = xp.add(product, bias.reshape(o, 1, 1))
        self.saved = (cols if self.needs_grad[1] else None, w2)
        self.geometry = (x.shape, padded.shape, (kh, kw), stride, pad_before, dilation, out_hw, width)
        return out

    def backward(self, xp, g):
        cols, w2 = self.saved
        x_shape, padded_shape, kernel, stride, pad_before, dilation, (oh, ow), width = self.geometry
        groups, og, k = w2.shape
        n, o = g.shape[:2]
        # (O, N, OH, width), the junk columns with a zero gradient.
        g_t = (xp.zeros if width != ow else xp.empty)((o, n, oh, width), dtype=g.dtype)
        g_t[..., :ow] = g.transpose(1, 0, 2, 3)
        g2 = g_t.reshape(groups, og, -1)
        gx = gw = gb = None
        if self.needs_grad[0]:
            # One product per sample, as in forward: (N, G, Cg*kh*kw, OH*width).
            per_sample = g_t.reshape(groups, og, n, -1).transpose(2, 0, 1, 3)
            gcols = xp.matmul(w2.transpose(0, 2, 1), per_sample).reshape(n, x_shape[1], *kernel, -1)
            if stride == (1, 1):
                padded = add_row_windows(xp, padded_shape, gcols.transpose(1, 2, 3, 0, 4), kernel, dilation)
            else:
                per_tap = gcols.reshape(n, x_shape[1], *kernel, oh, ow)
                padded = xp.zeros(padded_shape, dtype=g.dtype)
                add_windows(padded, lambda i, j: per_tap[:, :, i, j], kernel, stride, dilation, (oh, ow))
            gx = crop_hw(padded, pad_before, x_shape[-2:])
        if self.needs_grad[1]:
            gw = (g2 @ cols.reshape(groups, k, -1).transpose(0, 2, 1)).reshape(o, -1, *kernel)
        if len(self.needs_grad) == 3 and self.needs_grad[2]:
            gb = g2.reshape(o, -1).sum(axis=1)  # contiguous rows; the junk columns add zeros
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)


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


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlate (N, C, H, W) ``input`` with (O, C/groups, kh, kw) ``weight``."""
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input.ndim != 4 or weight.ndim != 4:
        raise OpRuntimeError("conv2d", "expected a 3-D or 4-D input (N, C, H, W) and a 4-D weight (O, "
                                       f"C/groups, kh, kw), got input of shape {tuple(input.shape)} and "
                                       f"weight of shape {tuple(weight.shape)}")
    stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
    if 0 in stride or 0 in dilation:
        raise OpValueError("conv2d", f"stride {stride} and dilation {dilation} must be positive")
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    if groups < 1 or c % groups or o % groups:
        raise OpRuntimeError("conv2d", f"groups={groups} must divide both the input's {c} channels and the "
                                       f"weight's {o} output channels (input {tuple(input.shape)}, weight "
                                       f"{tuple(weight.shape)})")
    if c != cg * groups:
        raise OpRuntimeError("conv2d", f"input of shape {tuple(input.shape)} has {c} channels but weight of "
                                       f"shape {tuple(weight.shape)} expects {cg * groups} (groups={groups})")
    if bias is not None and tuple(bias.shape) != (o,):
        raise OpRuntimeError("conv2d", f"bias of shape {tuple(bias.shape)} does not match the weight's {o} "
                                       f"output channels (weight {tuple(weight.shape)})")
    dtypes = {t.dtype for t in (input, weight, bias) if t is not None}
    if len(dtypes) > 1:
        raise OpTypeError("conv2d", f"input ({input.dtype}), weight ({weight.dtype}) and bias must have one "
                                    f"dtype; convert the input with .to({weight.dtype})")
    before, after = _padding(padding, (kh, kw), dilation, stride, "conv2d")
    for axis, size, k, d in ((0, h, kh, dilation[0]), (1, w, kw, dilation[1])):
        padded = size + before[axis] + after[axis]
        if d * (k - 1) + 1 > padded:
            raise OpRuntimeError("conv2d", f"kernel of size {(kh, kw)} (dilation {dilation}) is larger than "
                                           f"the padded input ({h + before[0] + after[0]}, "
                                           f"{w + before[1] + after[1]}); input {tuple(input.shape)}, "
                                           f"padding {padding}")
    tensors = (input, weight) if bias is None else (input, weight, bias)
    out = Conv2d.apply(*tensors, stride=stride, pad_before=before, pad_after=after, dilation=dilation,
                       groups=groups)
    return out.squeeze(0) if unbatched else out
