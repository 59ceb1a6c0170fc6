"""2-D convolution (cross-correlation, as PyTorch) by im2col and one matrix product per group.

Forward: the padded input is viewed as sliding windows (no copy), gathered once into columns
``cols`` of shape (groups, C/groups*kh*kw, N*OH*OW), and multiplied by the weight reshaped to
(groups, O/groups, C/groups*kh*kw): a single batched matmul covers every group. Backward
reuses ``cols`` for the weight's gradient and scatters the columns' gradient back onto the
input with col2im.
"""
from ..function import Function
from ._sliding import add_windows, crop_hw, output_size, pad_hw, pair, windows


class Conv2d(Function):
    saves_inputs = True

    def forward(self, xp, x, weight, bias=None, stride=(1, 1), pad_before=(0, 0), pad_after=(0, 0),
                dilation=(1, 1), groups=1):
        n = x.shape[0]
        o, cg, kh, kw = weight.shape
        padded = pad_hw(xp, x, pad_before, pad_after)
        hp, wp = padded.shape[-2:]
        out_hw = (output_size(hp, kh, stride[0], 0, dilation[0]),
                  output_size(wp, kw, stride[1], 0, dilation[1]))
        oh, ow = out_hw
        # (N, C, OH, OW, kh, kw) view -> (G, Cg*kh*kw, N*OH*OW) columns: the one im2col copy.
        win = windows(xp, padded, (kh, kw), stride, dilation, out_hw)
        win = win.reshape(n, groups, cg, oh, ow, kh, kw).transpose(1, 2, 5, 6, 0, 3, 4)
        cols = win.reshape(groups, cg * kh * kw, n * oh * ow)
        w2 = weight.reshape(groups, o // groups, cg * kh * kw)
        out = w2 @ cols  # (G, Og, N*OH*OW)
        out = xp.ascontiguousarray(out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3))
        if bias is not None:
            out += bias.reshape(o, 1, 1)
        self.saved = (cols if self.needs_grad[1] else None, w2)
        self.geometry = (x.shape, padded.shape, (kh, kw), stride, pad_before, dilation, out_hw)
        return out

    def backward(self, xp, g):
        cols, w2 = self.saved
        x_shape, padded_shape, kernel, stride, pad_before, dilation, out_hw = self.geometry
        groups, og, k = w2.shape
        n, o = g.shape[:2]
        g2 = g.reshape(n, groups, og, -1).transpose(1, 2, 0, 3).reshape(groups, og, -1)
        gx = gw = gb = None
        if self.needs_grad[0]:
            gcols = w2.transpose(0, 2, 1) @ g2  # (G, Cg*kh*kw, N*OH*OW)
            cg = k // (kernel[0] * kernel[1])
            per_tap = gcols.reshape(groups, cg, *kernel, n, *out_hw)
            padded = xp.zeros(padded_shape, dtype=g.dtype)
            # The same (G, Cg, N, Hp, Wp) layout as per_tap's leading axes, as a view.
            target = padded.reshape(n, groups, cg, *padded_shape[-2:]).transpose(1, 2, 0, 3, 4)
            add_windows(target, lambda i, j: per_tap[:, :, i, j], kernel, stride, dilation, out_hw)
            gx = crop_hw(padded, pad_before, x_shape[-2:])
        if self.needs_grad[1]:
            gw = (g2 @ cols.transpose(0, 2, 1)).reshape(o, -1, *kernel)
        if len(self.needs_grad) == 3 and self.needs_grad[2]:
            gb = g.sum(axis=(0, 2, 3))
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)


def _padding(padding, kernel, dilation, stride, op):
    """PyTorch's padding argument (int, pair, 'valid' or 'same') as (before, after) pairs."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride={stride})")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        before = tuple(t // 2 for t in total)
        return before, tuple(t - b for t, b in zip(total, before))
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    p = pair(padding, "padding", op)
    return p, p


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlate (N, C, H, W) ``input`` with (O, C/groups, kh, kw) ``weight``."""
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    if input.ndim != 4 or weight.ndim != 4:
        raise RuntimeError(f"conv2d: expected a 3-D or 4-D input (N, C, H, W) and a 4-D weight "
                           f"(O, C/groups, kh, kw), got input of shape {tuple(input.shape)} and weight "
                           f"of shape {tuple(weight.shape)}")
    stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
    if 0 in stride or 0 in dilation:
        raise ValueError(f"conv2d: stride {stride} and dilation {dilation} must be positive")
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    if groups < 1 or c % groups or o % groups:
        raise RuntimeError(f"conv2d: groups={groups} must divide both the input's {c} channels and the "
                           f"weight's {o} output channels (input {tuple(input.shape)}, weight "
                           f"{tuple(weight.shape)})")
    if c != cg * groups:
        raise RuntimeError(f"conv2d: input of shape {tuple(input.shape)} has {c} channels but weight of "
                           f"shape {tuple(weight.shape)} expects {cg * groups} (groups={groups})")
    if bias is not None and tuple(bias.shape) != (o,):
        raise RuntimeError(f"conv2d: bias of shape {tuple(bias.shape)} does not match the weight's {o} "
                           f"output channels (weight {tuple(weight.shape)})")
    dtypes = {t.dtype for t in (input, weight, bias) if t is not None}
    if len(dtypes) > 1:
        raise TypeError(f"conv2d: input ({input.dtype}), weight ({weight.dtype}) and bias must have one "
                        f"dtype; convert the input with .to({weight.dtype})")
    before, after = _padding(padding, (kh, kw), dilation, stride, "conv2d")
    for axis, size, k, d in ((0, h, kh, dilation[0]), (1, w, kw, dilation[1])):
        padded = size + before[axis] + after[axis]
        if d * (k - 1) + 1 > padded:
            raise RuntimeError(f"conv2d: kernel of size {(kh, kw)} (dilation {dilation}) is larger than the "
                               f"padded input ({h + before[0] + after[0]}, {w + before[1] + after[1]}); "
                               f"input {tuple(input.shape)}, padding {padding}")
    tensors = (input, weight) if bias is None else (input, weight, bias)
    out = Conv2d.apply(*tensors, stride=stride, pad_before=before, pad_after=after, dilation=dilation,
                       groups=groups)
    return out.squeeze(0) if unbatched else out
