"""Rearranging ops: diff, movedim, diag_embed, take_along_dim and rot90 built from differentiable
pieces; diagonal and Tensor.unfold (sliding windows along one dim) as strided views, as PyTorch's."""
from ..errors import OpRuntimeError
from ..function import Function
from ._util import normalize_dim
from .indexing import gather
from .reorder import flip, narrow
from .shape import broadcast_to, cat, permute, reshape, transpose
from .elementwise import ne, sub


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along ``dim`` (prepend/append joined first); bool: XOR."""
    if input.ndim == 0:
        raise OpRuntimeError("diff", "expected at least a 1-d tensor, got a 0-d one")
    axis = normalize_dim(dim, input.ndim, "diff")[0]
    parts = [t for t in (prepend, input, append) if t is not None]
    x = cat(parts, axis) if len(parts) > 1 else input
    step = ne if x.array.dtype.kind == "b" else sub
    for _ in range(n):
        size = x.shape[axis]
        if size == 0:
            break
        x = step(narrow(x, axis, 1, size - 1), narrow(x, axis, 0, size - 1))
    return x


def movedim(input, source, destination):
    src = normalize_dim(source, input.ndim, "movedim")
    dst = normalize_dim(destination, input.ndim, "movedim")
    if len(src) != len(dst):
        raise OpRuntimeError("movedim", f"source and destination must name as many dims, got {source} and "
                                        f"{destination}")
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise OpRuntimeError("movedim", f"repeated dim in source {source} or destination {destination}")
    order = [None] * input.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(input.ndim) if i not in src)
    order = [next(rest) if o is None else o for o in order]
    return permute(input, *order) if input.ndim else input


moveaxis = movedim


def _diagonal_positions(xp, rows, cols, offset):
    """Row and column indices of the ``offset`` diagonal of a rows x cols matrix."""
    start_r, start_c = max(-offset, 0), max(offset, 0)
    length = max(min(rows - start_r, cols - start_c), 0)
    steps = xp.arange(length)
    return steps + start_r, steps + start_c


def _take_diagonal(xp, x, offset, a1, a2):
    """The ``offset`` diagonal of axes a1, a2 as the last axis: a view of x (writable, as
    PyTorch's: writing it writes x), one stride that steps both axes at once."""
    moved = xp.moveaxis(x, (a1, a2), (-2, -1))
    r, c = _diagonal_positions(xp, moved.shape[-2], moved.shape[-1], offset)
    length = int(r.shape[0])
    corner = moved[..., int(r[0]):, int(c[0]):] if length else moved
    return xp.lib.stride_tricks.as_strided(corner, shape=corner.shape[:-2] + (length,),
                                           strides=corner.strides[:-2] + (corner.strides[-2] + corner.strides[-1],))


def _embed_diagonal(xp, values, shape, offset, a1, a2, dtype):
    """An array of ``shape``, zero but for ``values`` on the diagonal of axes a1, a2."""
    out = xp.zeros(shape, dtype=dtype)
    moved = xp.moveaxis(out, (a1, a2), (-2, -1))  # a view: writing it writes out
    r, c = _diagonal_positions(xp, moved.shape[-2], moved.shape[-1], offset)
    moved[..., r, c] = values
    return out


class Diagonal(Function):
    is_view = True

    def forward(self, xp, x, offset, a1, a2):
        self.shape, self.args = x.shape, (offset, a1, a2)
        return _take_diagonal(xp, x, offset, a1, a2)

    def backward(self, xp, g):
        return (_embed_diagonal(xp, g, self.shape, *self.args, g.dtype),)


def _two_dims(op, dim1, dim2, ndim):
    a1, a2 = normalize_dim((dim1, dim2), ndim, op)
    if a1 == a2:
        raise OpRuntimeError(op, f"dim1 and dim2 must differ, got {dim1} and {dim2}")
    return a1, a2


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the dims (dim1, dim2), as the last dim (a copy, not a view)."""
    if input.ndim < 2:
        raise OpRuntimeError("diagonal", f"expected at least 2 dims, got shape {tuple(input.shape)}")
    a1, a2 = _two_dims("diagonal", dim1, dim2, input.ndim)
    return Diagonal.apply(input, offset=offset, a1=a1, a2=a2)


class DiagEmbed(Function):
    def forward(self, xp, x, offset, a1, a2):
        self.args = (offset, a1, a2)
        n = x.shape[-1] + abs(offset)
        moved_shape = x.shape[:-1] + (n, n)
        out = xp.zeros(moved_shape, dtype=x.dtype)
        r, c = _diagonal_positions(xp, n, n, offset)
        out[..., r, c] = x
        return xp.ascontiguousarray(xp.moveaxis(out, (-2, -1), (a1, a2)))

    def backward(self, xp, g):
        return (_take_diagonal(xp, g, *self.args),)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Each last-dim vector of ``input`` on the diagonal of a matrix along (dim1, dim2)."""
    a1, a2 = _two_dims("diag_embed", dim1, dim2, input.ndim + 1)
    return DiagEmbed.apply(input, offset=offset, a1=a1, a2=a2)


def take_along_dim(input, indices, dim=None):
    """Values of ``input`` at ``indices`` along ``dim`` (flattened when None); the other dims broadcast."""
    if indices.array.dtype.kind not in "iu":
        raise OpRuntimeError("take_along_dim", f"indices must be an integer tensor, got {indices.array.dtype}")
    if dim is None:
        return gather(reshape(input, -1), 0, reshape(indices, -1))
    if input.ndim != indices.ndim:
        raise OpRuntimeError("take_along_dim", f"input and indices should have the same number of dims, got "
                                               f"{input.ndim} and {indices.ndim}")
    axis = normalize_dim(dim, input.ndim, "take_along_dim")[0]
    try:
        shape = [b if a == 1 else a if b in (1, a) else None
                 for a, b in zip(input.shape, indices.shape)]
        if None in [s for i, s in enumerate(shape) if i != axis]:
            raise ValueError
    except ValueError:
        raise OpRuntimeError("take_along_dim", f"shapes {tuple(input.shape)} and {tuple(indices.shape)} do not "
                                               f"broadcast outside dim {dim}") from None
    in_shape = [s if i != axis else input.shape[axis] for i, s in enumerate(shape)]
    index_shape = [s if i != axis else indices.shape[axis] for i, s in enumerate(shape)]
    if list(input.shape) != in_shape:
        input = broadcast_to(input, tuple(in_shape))
    if list(indices.shape) != index_shape:
        indices = broadcast_to(indices, tuple(index_shape))
    return gather(input, axis, indices)


def rot90(input, k=1, dims=(0, 1)):
    """Rotation by 90 degrees k times in the plane of ``dims``, from the first towards the second."""
    if len(dims) != 2:
        raise OpRuntimeError("rot90", f"expected 2 dims, got {len(dims)}")
    if input.ndim < 2:
        raise OpRuntimeError("rot90", f"expected at least 2 dims, got shape {tuple(input.shape)}")
    d0, d1 = normalize_dim(tuple(dims), input.ndim, "rot90")
    if d0 == d1:
        raise OpRuntimeError("rot90", f"the two dims must differ, got {tuple(dims)}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return input.clone()


class Unfold(Function):
    """Windows of ``size`` every ``step`` along ``axis``, as a new last axis: a view (strides)."""
    is_view = True

    def forward(self, xp, x, axis, size, step):
        self.shape, self.dtype, self.args = x.shape, x.dtype, (axis, size, step)
        count = (x.shape[axis] - size) // step + 1
        shape = x.shape[:axis] + (count,) + x.shape[axis + 1:] + (size,)
        strides = x.strides[:axis] + (x.strides[axis] * step,) + x.strides[axis + 1:] + (x.strides[axis],)
        return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)

    def backward(self, xp, g):
        # every window's gradient added back where it came from (windows overlap when step < size)
        gx = xp.zeros(self.shape, dtype=g.dtype)
        axis, size, step = self.args
        moved = xp.moveaxis(g, axis, -2)  # (..., count, size)
        target = xp.moveaxis(gx, axis, -1)
        for k in range(size):  # size adds of whole strided slices, not one per element
            target[..., k:k + step * (moved.shape[-2] - 1) + 1:step] += moved[..., k]
        return (gx,)


class OverlappingUnfold(Unfold):
    """Windows that share elements (step < size): no in-place op through them is differentiable."""
    overlapping = True


def unfold_dim(input, dimension, size, step):
    """Tensor.unfold: windows of ``size`` every ``step`` along ``dimension``, as a new last dim."""
    axis = normalize_dim(dimension, input.ndim, "unfold")[0]
    length = input.shape[axis] if input.ndim else 1
    if size < 0 or size > length:
        raise OpRuntimeError("unfold", f"size {size} exceeds the size {length} of dimension {dimension}")
    if step <= 0:
        raise OpRuntimeError("unfold", f"step must be positive, got {step}")
    if input.ndim == 0:
        return reshape(input, 1)
    return (OverlappingUnfold if step < size else Unfold).apply(input, axis=axis, size=size, step=step)
