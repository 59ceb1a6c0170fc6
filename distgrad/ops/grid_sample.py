"""affine_grid and grid_sample (PyTorch's spatial transformer pair), for 4-D inputs.

Both are compositions of differentiable ops, so gradients reach the input, the grid and the
affine matrices without a backward of their own: grid_sample gathers the (up to four)
neighbours of each sampling point from the flattened input and weighs them by the point's
distance to them, the integer corner positions being constants, as in PyTorch's formula.
"""
import warnings

from ..creation import tensor
from ..errors import OpNotImplementedError, OpRuntimeError, OpValueError

_MODES = ("bilinear", "nearest")
_PADDINGS = ("zeros", "border", "reflection")


def _align_corners(align_corners, op):
    if align_corners is None:
        warnings.warn(f"{op}: align_corners was not given; using False, PyTorch's default since 1.3.0 "
                      "(pass it to silence this)", UserWarning, stacklevel=3)
        return False
    return bool(align_corners)


def _base_coordinates(size, align_corners):
    """The normalized [-1, 1] coordinates of ``size`` pixel centres (or corners), as floats."""
    if size == 1:
        return [0.0]
    if align_corners:
        return [-1 + 2 * i / (size - 1) for i in range(size)]
    return [(2 * i + 1) / size - 1 for i in range(size)]


def affine_grid(theta, size, align_corners=None):
    """The sampling grid (N, H, W, 2) of the affine matrices ``theta`` (N, 2, 3) for an output
    of ``size`` (N, C, H, W): theta applied to each output pixel's (x, y, 1)."""
    align_corners = _align_corners(align_corners, "affine_grid")
    size = tuple(size)
    if len(size) != 4:
        raise OpNotImplementedError("affine_grid", f"only 4-D sizes (N, C, H, W) are supported, got {size}")
    n, _, h, w = size
    if theta.ndim != 3 or tuple(theta.shape) != (n, 2, 3):
        raise OpValueError("affine_grid", f"expected theta of shape ({n}, 2, 3) for size {size}, got "
                                          f"{tuple(theta.shape)}")
    if theta.array.dtype.kind != "f":
        raise OpRuntimeError("affine_grid", f"theta must be floating, got dtype {theta.array.dtype}")
    xs, ys = _base_coordinates(w, align_corners), _base_coordinates(h, align_corners)
    base = tensor([[[x, y, 1.0] for x in xs] for y in ys], dtype=theta.dtype, device=theta.device)  # (H, W, 3)
    grid = base.reshape(1, h * w, 3) @ theta.transpose(1, 2)  # (N, H*W, 2)
    return grid.reshape(n, h, w, 2)


def _pixel_coordinates(coordinate, size, align_corners, padding_mode):
    """Normalized coordinates to pixel positions, then border or reflection padding applied."""
    if align_corners:
        position = (coordinate + 1) * ((size - 1) / 2)
    else:
        position = ((coordinate + 1) * size - 1) / 2
    if padding_mode == "reflection":
        position = _reflect(position, 0 if align_corners else -0.5, size - 1 if align_corners else size - 0.5)
    if padding_mode in ("border", "reflection"):
        position = position.clamp(0, size - 1)
    return position


def _reflect(position, low, high):
    """Mirror ``position`` into [low, high] (repeatedly, as PyTorch's reflect_coordinates)."""
    span = high - low
    if span <= 0:
        return position * 0
    distance = (position - low).abs()
    flips = (distance / span).floor().detach()
    extra = distance - flips * span
    even = (flips.remainder(2) == 0)
    return extra.where(even, span - extra) + low


def _gather(flat, row, col, height, width):
    """The input values at integer positions (row, col) (N, Ho, Wo) of ``flat`` (N, C, H*W),
    zero where the position lies outside the input."""
    n, c, _ = flat.shape
    inside = (col >= 0) & (col <= width - 1) & (row >= 0) & (row <= height - 1)
    index = row.clamp(0, height - 1) * width + col.clamp(0, width - 1)
    picked = flat.gather(2, index.reshape(n, 1, -1).expand(n, c, index.shape[1] * index.shape[2]))
    picked = picked.reshape(n, c, index.shape[1], index.shape[2])
    return picked * inside.unsqueeze(1).to(flat.dtype)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` (N, C, H, W) at ``grid`` (N, Ho, Wo, 2) of normalized (x, y) positions:
    (N, C, Ho, Wo). Modes "bilinear" and "nearest"; padding "zeros", "border", "reflection"."""
    align_corners = _align_corners(align_corners, "grid_sample")
    if mode not in _MODES:
        raise OpNotImplementedError("grid_sample", f"mode must be one of {_MODES}, got {mode!r}")
    if padding_mode not in _PADDINGS:
        raise OpValueError("grid_sample", f"padding_mode must be one of {_PADDINGS}, got {padding_mode!r}")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise OpRuntimeError("grid_sample", f"expected input (N, C, H, W) and grid (N, H_out, W_out, 2) with the "
                                            f"same N, got input {tuple(input.shape)} and grid {tuple(grid.shape)}")
    if input.array.dtype != grid.array.dtype or input.array.dtype.kind != "f":
        raise OpRuntimeError("grid_sample", f"input and grid must have the same floating dtype, got "
                                            f"{input.array.dtype} and {grid.array.dtype}")
    if input.device != grid.device:
        raise OpRuntimeError("grid_sample", f"input is on {input.device}, grid on {grid.device}")
    n, c, height, width = input.shape
    x = _pixel_coordinates(grid[..., 0], width, align_corners, padding_mode)
    y = _pixel_coordinates(grid[..., 1], height, align_corners, padding_mode)
    flat = input.reshape(n, c, height * width)
    if mode == "nearest":  # round half to even, as PyTorch's nearbyint
        return _gather(flat, y.detach().round().long(), x.detach().round().long(), height, width)
    x0, y0 = x.detach().floor(), y.detach().floor()
    wx1, wy1 = x - x0, y - y0  # the weights' gradients reach the grid through x and y
    wx0, wy0 = 1 - wx1, 1 - wy1
    col, row = x0.long(), y0.long()
    out = None
    for dy, wy in ((0, wy0), (1, wy1)):
        for dx, wx in ((0, wx0), (1, wx1)):
            term = _gather(flat, row + dy, col + dx, height, width) * (wy * wx).unsqueeze(1)
            out = term if out is None else out + term
    return out
