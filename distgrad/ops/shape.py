"""Shape ops: reshape and its relatives, transpose/permute, expand, cat/stack/split."""
import numbers

from .. import dtypes
from ..autograd.views import one_of_several
from ..errors import OpIndexError, OpRuntimeError, OpTypeError, OpValueError
from ..function import Function
from ._util import normalize_dim, shape_arg, unbroadcast


class Reshape(Function):
    is_view = True

    def forward(self, xp, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, xp, g):
        return (g.reshape(self.in_shape),)


class ReshapeCopy(Reshape):
    """Reshape of a non-contiguous tensor: a copy, as PyTorch's when no view can do."""
    is_view = False

    def forward(self, xp, x, shape):
        self.in_shape = x.shape
        return xp.ascontiguousarray(x).reshape(shape)


class Permute(Function):
    is_view = True

    def forward(self, xp, x, axes):
        self.axes = axes
        return x.transpose(axes)

    def backward(self, xp, g):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return (g.transpose(inverse),)


class Expand(Function):
    is_view = True
    overlapping = True

    def forward(self, xp, x, shape):
        self.in_shape = x.shape
        return xp.broadcast_to(x, shape)

    def backward(self, xp, g):
        return (unbroadcast(g, self.in_shape),)


class Cat(Function):
    def forward(self, xp, *arrays, axis, skipped):
        self.axis = axis
        self.bounds = []  # None for a skipped input: its gradient is empty
        start = 0
        for a, skip in zip(arrays, skipped):
            self.bounds.append(None if skip else (start, start + a.shape[axis]))
            start += 0 if skip else a.shape[axis]
        return xp.concatenate([a for a, skip in zip(arrays, skipped) if not skip], axis=axis)

    def backward(self, xp, g):
        lead = (slice(None),) * self.axis
        return tuple(None if not need else xp.zeros((0,), dtype=g.dtype) if b is None
                     else g[lead + (slice(b[0], b[1]),)]
                     for b, need in zip(self.bounds, self.needs_grad))


class Stack(Function):
    def forward(self, xp, *arrays, axis):
        self.axis = axis
        return xp.stack(arrays, axis=axis)

    def backward(self, xp, g):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (i,)] if need else None for i, need in enumerate(self.needs_grad))


# ---------------------------------------------------------------- functional API

def _resolve_shape(shape, numel, op, in_shape):
    shape = list(shape)
    unknown = [i for i, s in enumerate(shape) if s == -1]
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if len(unknown) > 1:
        raise OpRuntimeError(op, f"only one dimension can be -1, got shape {tuple(shape)}")
    if unknown:
        if known == 0 or numel % known:
            raise OpRuntimeError(op, f"shape {tuple(shape)} is invalid for input of shape {tuple(in_shape)}")
        shape[unknown[0]] = numel // known
    elif known != numel:
        raise OpRuntimeError(op, f"shape {tuple(shape)} is invalid for input of shape {tuple(in_shape)} "
                                 f"({numel} elements)")
    return tuple(shape)


def reshape(input, *shape):
    return _reshape_to(input, _resolve_shape(shape_arg(shape, "reshape"), input.array.size, "reshape", input.array.shape))


def _reshape_to(input, shape):
    """Reshape to a resolved shape (no -1); the same shape gives the input back. A view when
    the input's strides allow one (always when contiguous), else a copy, as PyTorch's."""
    if shape == input.array.shape:
        return input
    return (Reshape if _reshapes_as_view(input.array, shape) else ReshapeCopy).apply(input, shape=shape)


def _reshapes_as_view(array, shape):
    """Whether ``array.reshape(shape)`` needs no copy. NumPy and CuPy copy only when the
    strides cannot express the new shape; their view then shares the array's owner."""
    if array.flags.c_contiguous:
        return True
    out = array.reshape(shape)
    owner = array if array.base is None else array.base
    return out.base is owner


def view(input, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):  # view(dtype)
        return input._wrap(input.array.view(shape[0]))
    resolved = _resolve_shape(shape_arg(shape, "view"), input.array.size, "view", input.array.shape)
    if resolved != input.array.shape and not _reshapes_as_view(input.array, resolved):
        raise OpRuntimeError("view", f"shape {resolved} is not compatible with the input's size "
                                     f"{tuple(input.array.shape)} and strides (a dimension would span "
                                     "non-adjacent memory); use .reshape(...), or .contiguous() first")
    return _reshape_to(input, resolved)


def contiguous(input, memory_format=None):
    """The tensor itself when its memory is contiguous, else a contiguous copy."""
    if input.array.flags.c_contiguous:
        return input
    return ReshapeCopy.apply(input, shape=input.array.shape)


def view_as(input, other):
    return view(input, other.shape)


def reshape_as(input, other):
    return reshape(input, other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    start, end = normalize_dim((start_dim, end_dim), input.ndim, "flatten")
    if start > end:
        raise OpRuntimeError("flatten", f"start_dim {start_dim} comes after end_dim {end_dim} for a tensor "
                                        f"of {input.ndim} dimensions; swap them")
    if input.ndim == 0:
        return reshape(input, 1)
    shape = input.array.shape
    merged = 1
    for s in shape[start:end + 1]:
        merged *= s
    return _reshape_to(input, shape[:start] + (merged,) + shape[end + 1:])


def unflatten(input, dim, sizes):
    if input.ndim == 0:
        raise OpRuntimeError("unflatten", "a 0-d tensor has no dimension to unflatten; reshape it instead")
    dim = normalize_dim(dim, input.ndim, "unflatten")[0]
    shape, sizes = input.array.shape, tuple(sizes)
    if not sizes:
        raise OpRuntimeError("unflatten", "sizes must be non-empty")
    # sizes must multiply up to the size of dim itself, not merely keep the tensor's element count
    sizes = _resolve_shape(sizes, shape[dim], "unflatten", (shape[dim],))
    return _reshape_to(input, shape[:dim] + sizes + shape[dim + 1:])


def squeeze(input, dim=None):
    shape = input.array.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = normalize_dim(dim, input.ndim, "squeeze")
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return reshape(input, new)


def unsqueeze(input, dim):
    ndim = input.ndim + 1
    if not isinstance(dim, int):
        raise OpTypeError("unsqueeze", f"dim must be an int, got {type(dim).__name__} {dim!r}")
    if not -ndim <= dim < ndim:
        raise OpIndexError("unsqueeze", f"dimension {dim} out of range for a result of {ndim} dimensions")
    dim %= ndim
    shape = input.array.shape
    return reshape(input, shape[:dim] + (1,) + shape[dim:])


def permute(input, *dims):
    dims = normalize_dim(shape_arg(dims, "permute") if dims else (), input.ndim, "permute")
    if sorted(dims) != list(range(input.ndim)):
        raise OpRuntimeError("permute", f"dims {dims} are not a permutation of the {input.ndim} dimensions")
    return Permute.apply(input, axes=dims)


def transpose(input, dim0, dim1):
    d0, d1 = normalize_dim((dim0, dim1), input.ndim, "transpose")
    axes = list(range(input.ndim))
    if axes:  # a 0-d tensor: dims 0 and -1 both name the tensor itself, as in PyTorch
        axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute.apply(input, axes=tuple(axes))


swapaxes = transpose


def t(input):
    if input.ndim < 2:
        return input
    if input.ndim > 2:
        raise OpRuntimeError("t", f"expects a tensor with <= 2 dimensions, got {input.ndim}; use "
                                  "transpose(dim0, dim1)")
    return transpose(input, 0, 1)


def expand(input, *sizes):
    sizes = shape_arg(sizes, "expand")
    shape = input.array.shape
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise OpRuntimeError("expand", f"the number of sizes ({len(sizes)}) must be at least the tensor's "
                                       f"dimensions ({len(shape)})")
    target = tuple(shape[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
    for i, s in enumerate(shape):
        if s != 1 and s != target[i + lead]:
            raise OpRuntimeError("expand", f"the expanded size {target[i + lead]} must match the existing "
                                           f"size {s} at dimension {i} (shape {tuple(shape)} to {sizes})")
    return Expand.apply(input, shape=target)


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_to(input, shape):
    return expand(input, shape)


def _same_dtype(tensors, op):
    if not tensors:
        raise OpValueError(op, f"expected a non-empty list of tensors")
    target = tensors[0].array.dtype
    for t in tensors[1:]:
        target = dtypes.promote(target, t.array.dtype)
    return [t if t.array.dtype == target else t.to(target) for t in tensors]


def cat(tensors, dim=0):
    tensors = _same_dtype(list(tensors), "cat")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise OpRuntimeError("cat", f"zero-dimensional tensor (at position {i}) of shape () cannot be "
                                        "concatenated; use stack")
    # As PyTorch's (legacy): 1-D empty tensors are skipped, so they neither fix nor check dim.
    skipped = tuple(t.array.shape == (0,) for t in tensors)
    kept = [t for t, skip in zip(tensors, skipped) if not skip]
    if not kept:
        return Cat.apply(*tensors, axis=0, skipped=(False,) * len(tensors))
    axis = normalize_dim(dim, kept[0].ndim, "cat")[0]
    ref = kept[0].array.shape
    for t in kept[1:]:
        s = t.array.shape
        if len(s) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(s, ref)) if i != axis):
            shapes = ", ".join(str(tuple(x.shape)) for x in tensors)
            raise OpRuntimeError("cat", f"sizes of tensors must match except in dimension {dim}; got "
                                        f"{shapes}")
    return Cat.apply(*tensors, axis=axis, skipped=skipped)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = _same_dtype(list(tensors), "stack")
    shape = tensors[0].array.shape
    if any(t.array.shape != shape for t in tensors):
        shapes = ", ".join(str(tuple(x.shape)) for x in tensors)
        raise OpRuntimeError("stack", f"expects each tensor to be equal size, got {shapes}")
    ndim = len(shape) + 1
    if not -ndim <= dim < ndim:
        raise OpIndexError("stack", f"dimension {dim} out of range for a result of {ndim} dimensions")
    return Stack.apply(*tensors, axis=dim % ndim)


def _split_axis(tensor, dim, op):
    """The axis split or chunked along, and its length (a 0-d tensor has none)."""
    if tensor.ndim == 0:
        raise OpRuntimeError(op, "expects at least a 1-dimensional tensor, got a 0-d one; unsqueeze it first")
    axis = normalize_dim(dim, tensor.ndim, op)[0]
    return axis, tensor.array.shape[axis]


def _split_sizes(tensor, split_size_or_sections, dim, op):
    """The pieces' lengths along ``dim`` (an int split size or a list of sections), checked."""
    axis, length = _split_axis(tensor, dim, op)
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step < 0:
            raise OpRuntimeError(op, f"split_size must be non-negative, got {step}")
        if step == 0 and length:
            raise OpRuntimeError(op, f"split_size can only be 0 if the dimension's size is 0, got size {length}")
        if length == 0:  # one empty piece, as PyTorch
            return axis, [0]
        return axis, [min(step, length - i) for i in range(0, length, step)]
    sizes = list(split_size_or_sections)
    if any(not isinstance(s, numbers.Integral) or s < 0 for s in sizes):
        raise OpRuntimeError(op, f"sections must be non-negative ints, got {sizes}")
    if sum(sizes) != length:
        raise OpRuntimeError(op, f"sections {sizes} don't add up to the size {length} of dimension {dim}")
    return axis, sizes


def split(tensor, split_size_or_sections, dim=0):
    axis, sizes = _split_sizes(tensor, split_size_or_sections, dim, "split")
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in sizes:
        out.append(tensor[lead + (slice(start, start + s),)])
        start += s
    return one_of_several(tuple(out), "split")


def chunk(input, chunks, dim=0):
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks <= 0:
        raise OpRuntimeError("chunk", f"chunks must be a positive int, got {chunks!r}")
    _, length = _split_axis(input, dim, "chunk")
    # An empty dim gives `chunks` empty pieces, as PyTorch's
    return split(input, [0] * chunks if length == 0 else -(-length // chunks), dim)


def unbind(input, dim=0):
    if input.ndim == 0:
        raise OpIndexError("unbind", f"a 0-d tensor has no dimension {dim} to unbind; unsqueeze it first")
    axis = normalize_dim(dim, input.ndim, "unbind")[0]
    lead = (slice(None),) * axis
    return one_of_several(tuple(input[lead + (i,)] for i in range(input.array.shape[axis])), "unbind")
