"""pad (PyTorch's F.pad): constant, reflect, replicate and circular padding of the last dims.

``pad`` lists (before, after) pairs starting from the last dim, as PyTorch's. Constant padding
is one node (fill, copy the input in; its gradient is the matching slice), negative amounts
crop. The other modes pick, for each padded dim, which input element every output position
repeats, and gather them with integer indexing, whose backward adds the gradients of the
repeats back.
"""
from ..errors import OpNotImplementedError, OpRuntimeError, OpValueError
from ..function import Function
from .indexing import getitem

MODES = ("constant", "reflect", "replicate", "circular")


class ConstantPad(Function):
    def forward(self, xp, x, pairs, value):
        out_shape = tuple(s + b + a for s, (b, a) in zip(x.shape, pairs))
        self.source, self.target = _regions(x.shape, pairs)
        out = xp.full(out_shape, value, dtype=x.dtype)
        out[self.target] = x[self.source]
        self.in_shape = x.shape
        return out

    def backward(self, xp, g):
        gx = xp.zeros(self.in_shape, dtype=g.dtype)
        gx[self.source] = g[self.target]
        return (gx,)


def _regions(shape, pairs):
    """The slices of the input kept and where they land in the output (negative pads crop)."""
    source, target = [], []
    for size, (before, after) in zip(shape, pairs):
        source.append(slice(max(-before, 0), size - max(-after, 0)))
        target.append(slice(max(before, 0), max(before, 0) + max(size - max(-before, 0) - max(-after, 0), 0)))
    return tuple(source), tuple(target)


def _source_index(xp, size, before, after, mode):
    """For one dim: the input position each output position copies."""
    positions = xp.arange(-before, size + after)
    if mode == "reflect":
        period = 2 * (size - 1)
        positions = xp.abs(positions) % period if period else positions * 0
        return xp.where(positions >= size, period - positions, positions)
    if mode == "replicate":
        return xp.clip(positions, 0, size - 1)
    return positions % size  # circular


def pad(input, pad, mode="constant", value=None):
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise OpValueError("pad", f"pad must have an even length of at most 2 * {input.ndim} (the input's "
                                  f"dims), got {pad} for input of shape {tuple(input.shape)}")
    if mode not in MODES:
        raise OpNotImplementedError("pad", f"mode {mode!r} is not supported; use one of {MODES}")
    k = len(pad) // 2
    pairs = [(0, 0)] * (input.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    if mode == "constant":
        sizes = [s + b + a for s, (b, a) in zip(input.shape, pairs)]
        if min(sizes, default=1) < 0:
            raise OpRuntimeError("pad", f"padding {pad} makes input of shape {tuple(input.shape)} smaller than "
                                        "empty")
        return ConstantPad.apply(input, pairs=pairs, value=0 if value is None else value)
    if value not in (None, 0, 0.0):
        raise OpValueError("pad", f"padding mode {mode!r} doesn't take in value argument")
    if not k <= input.ndim - 1 <= k + 1:
        raise OpNotImplementedError("pad", f"{mode} padding of the last {k} dims needs a {k + 1}-D or "
                                           f"{k + 2}-D input, got shape {tuple(input.shape)}")
    out = input
    for axis in range(input.ndim - k, input.ndim):
        before, after = pairs[axis]
        size = input.shape[axis]
        # reflect never repeats the edge element; circular wraps at most once; replicate has no limit
        limit = {"reflect": size - 1, "circular": size}.get(mode, float("inf"))
        if min(before, after) < 0:
            raise OpNotImplementedError("pad", f"negative {mode} padding {(before, after)} is not supported; "
                                               "crop with a slice first")
        if max(before, after) > limit or size == 0:
            raise OpRuntimeError("pad", f"{mode} padding {(before, after)} of dim {axis} must be "
                                        f"{'less than' if mode == 'reflect' else 'at most'} its size {size} "
                                        f"(input of shape {tuple(input.shape)})")
        if before or after:
            index = _source_index(input.xp, size, before, after, mode)
            out = getitem(out, (slice(None),) * axis + (index,))
    return out
