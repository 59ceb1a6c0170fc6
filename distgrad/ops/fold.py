"""unfold (im2col) and fold (col2im), PyTorch's F.unfold / F.fold: each the other's adjoint.

unfold turns an (N, C, H, W) input into (N, C*kh*kw, L) sliding blocks (L windows, channel-
major blocks, as PyTorch's); fold adds such blocks back into an (N, C, H, W) output, summing
where windows overlap. Both use the strided windows of _sliding.py.
"""
from ..errors import OpRuntimeError
from ..function import Function
from ._sliding import add_windows, crop_hw, output_size, pad_hw, pair, windows


class _Blocks:
    """Where the blocks lie on the (H, W) image."""

    def __init__(self, image_hw, kernel_size, dilation, padding, stride, op):
        self.kernel, self.dilation = pair(kernel_size, "kernel_size", op), pair(dilation, "dilation", op)
        self.pad, self.stride = pair(padding, "padding", op), pair(stride, "stride", op)
        if 0 in self.kernel or 0 in self.dilation or 0 in self.stride:
            raise OpRuntimeError(op, f"kernel_size {self.kernel}, dilation {self.dilation} and stride {self.stride} "
                                     "must be positive")
        self.image_hw = tuple(image_hw)
        self.out_hw = tuple(output_size(s, k, st, p, d) for s, k, st, p, d in
                            zip(self.image_hw, self.kernel, self.stride, self.pad, self.dilation))
        if min(self.out_hw) < 1:
            raise OpRuntimeError(op, f"kernel {self.kernel} (dilation {self.dilation}, padding {self.pad}) does not "
                                     f"fit the image of size {self.image_hw}")

    def gather(self, xp, x):
        """(N, C, H, W) -> (N, C*kh*kw, L)."""
        n, c = x.shape[:2]
        view = windows(xp, pad_hw(xp, x, self.pad, self.pad), self.kernel, self.stride, self.dilation, self.out_hw)
        blocks = xp.ascontiguousarray(view.transpose(0, 1, 4, 5, 2, 3))
        return blocks.reshape(n, c * self.kernel[0] * self.kernel[1], -1)

    def scatter(self, xp, blocks):
        """(N, C*kh*kw, L) -> (N, C, H, W), overlapping blocks summed."""
        n = blocks.shape[0]
        per_tap = blocks.reshape(n, -1, *self.kernel, *self.out_hw)
        h, w = self.image_hw
        target = xp.zeros((n, per_tap.shape[1], h + 2 * self.pad[0], w + 2 * self.pad[1]), dtype=blocks.dtype)
        add_windows(target, lambda i, j: per_tap[:, :, i, j], self.kernel, self.stride, self.dilation, self.out_hw)
        return crop_hw(target, self.pad, self.image_hw)


class Unfold(Function):
    def forward(self, xp, x, blocks):
        self.blocks = blocks
        return blocks.gather(xp, x)

    def backward(self, xp, g):
        return (self.blocks.scatter(xp, g),)


class Fold(Function):
    def forward(self, xp, x, blocks):
        self.blocks = blocks
        return blocks.scatter(xp, x)

    def backward(self, xp, g):
        return (self.blocks.gather(xp, g),)


def _batched(op, fn, input, dims):
    if input.ndim == dims - 1:
        return fn(input.unsqueeze(0)).squeeze(0)
    if input.ndim != dims:
        raise OpRuntimeError(op, f"expected a {dims - 1}-D (unbatched) or {dims}-D (batched) input, got shape "
                                 f"{tuple(input.shape)}")
    return fn(input)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    blocks = _Blocks(input.shape[-2:], kernel_size, dilation, padding, stride, "unfold")
    return _batched("unfold", lambda x: Unfold.apply(x, blocks=blocks), input, 4)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    blocks = _Blocks(pair(output_size, "output_size", "fold"), kernel_size, dilation, padding, stride, "fold")
    k, count = blocks.kernel[0] * blocks.kernel[1], blocks.out_hw[0] * blocks.out_hw[1]
    if input.ndim in (2, 3) and (input.shape[-2] % k or input.shape[-1] != count):
        raise OpRuntimeError("fold", f"expected an input of shape (N, C*{k}, {count}) for kernel {blocks.kernel} and "
                                     f"output size {blocks.image_hw}, got {tuple(input.shape)}")
    return _batched("fold", lambda x: Fold.apply(x, blocks=blocks), input, 3)
