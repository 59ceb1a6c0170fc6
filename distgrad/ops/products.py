"""tensordot, kron and cross, composed of differentiable ops (reshape, permute, matmul, roll)."""
import operator
import warnings

from ..errors import OpRuntimeError
from ._util import binary_operands, normalize_dim
from .linalg import matmul
from .reorder import roll
from .counting import broadcast_tensors
from .shape import permute, reshape


def tensordot(a, b, dims=2):
    """Contract the last ``dims`` dims of a with the first of b, or the listed dim pairs."""
    if isinstance(dims, int) or hasattr(dims, "__index__") and not isinstance(dims, (list, tuple)):
        n = operator.index(dims)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise OpRuntimeError("tensordot", f"dims={n} out of range for shapes {tuple(a.shape)} and "
                                              f"{tuple(b.shape)}")
        dims_a, dims_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
        dims_a = list(normalize_dim(tuple(dims_a), a.ndim, "tensordot"))
        dims_b = list(normalize_dim(tuple(dims_b), b.ndim, "tensordot"))
    if len(dims_a) != len(dims_b) or any(a.shape[i] != b.shape[j] for i, j in zip(dims_a, dims_b)):
        raise OpRuntimeError("tensordot", f"contracted dims {dims_a} of {tuple(a.shape)} and {dims_b} of "
                                          f"{tuple(b.shape)} differ in number or size")
    free_a = [i for i in range(a.ndim) if i not in dims_a]
    free_b = [i for i in range(b.ndim) if i not in dims_b]
    inner = 1
    for i in dims_a:
        inner *= a.shape[i]
    left = reshape(permute(a, *(free_a + dims_a)), -1 if inner else _numel(a, free_a), inner)
    right = reshape(permute(b, *(dims_b + free_b)), inner, _numel(b, free_b))
    return reshape(matmul(left, right), tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b))


def _numel(t, axes):
    n = 1
    for i in axes:
        n *= t.shape[i]
    return n


def kron(input, other):
    """The Kronecker product: every element of input times the whole of other."""
    ndim = max(input.ndim, other.ndim)
    sa = (1,) * (ndim - input.ndim) + tuple(input.shape)
    sb = (1,) * (ndim - other.ndim) + tuple(other.shape)
    a = reshape(input, sum(((s, 1) for s in sa), ()))
    b = reshape(other, sum(((1, s) for s in sb), ()))
    return reshape(a * b, tuple(x * y for x, y in zip(sa, sb)))


def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim`` (None: the first dim of size 3, as torch.cross)."""
    if input.ndim != other.ndim:
        raise OpRuntimeError("cross", f"inputs must have the same number of dimensions, got shapes "
                                      f"{tuple(input.shape)} and {tuple(other.shape)}")
    a, b = broadcast_tensors(*binary_operands(input, other))
    if dim is None:
        warnings.warn("cross: without dim the first dimension of size 3 is used, which PyTorch deprecates; "
                      "pass dim, or use distgrad.linalg.cross (dim=-1)", UserWarning, stacklevel=2)
        dim = next((i for i, s in enumerate(a.shape) if s == 3), None)
        if dim is None:
            raise OpRuntimeError("cross", f"no dimension of size 3 in shape {tuple(a.shape)}")
    axis = normalize_dim(dim, a.ndim, "cross")[0]
    if a.shape[axis] != 3:
        raise OpRuntimeError("cross", f"dimension {dim} must have size 3, got shape {tuple(a.shape)}")
    # c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}, indices mod 3: rolls along the dim
    return roll(a, -1, axis) * roll(b, -2, axis) - roll(a, -2, axis) * roll(b, -1, axis)
