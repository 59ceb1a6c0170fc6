"""Coordinate grids and distance matrices built from other ops (so gradients come for free):
meshgrid and cdist, as PyTorch's."""
import math
import warnings

from ..errors import OpRuntimeError, OpValueError
from ..tensor_base import TensorBase
from .reduction import norm


def meshgrid(*tensors, indexing=None):
    """Grids from 1-D (or 0-d) tensors: output i varies along dim i ('ij'), or, with 'xy', the
    first two inputs along dims 1 and 0 (Cartesian, as NumPy's default). Outputs are expanded
    views of the inputs."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the indexing argument; "
                      "'ij' is used", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise OpValueError("meshgrid", f"indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise OpRuntimeError("meshgrid", "expects a non-empty list of tensors")
    for t in tensors:
        if not isinstance(t, TensorBase) or t.ndim > 1:
            raise OpRuntimeError("meshgrid", "expects 0-d or 1-d tensors, got "
                                             f"{[tuple(getattr(x, 'shape', ())) for x in tensors]}")
    if len({t.array.dtype for t in tensors}) > 1 or len({t.device for t in tensors}) > 1:
        raise OpRuntimeError("meshgrid", "expects all tensors to have the same dtype and device, got "
                                         f"{[str(t.dtype) for t in tensors]}")
    dims = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        dims[0], dims[1] = 1, 0
    full = [0] * len(tensors)
    for t, d in zip(tensors, dims):
        full[d] = t.numel()
    outputs = []
    for t, d in zip(tensors, dims):
        shape = [1] * len(tensors)
        shape[d] = -1
        outputs.append(t.reshape(shape).expand(*full))
    return tuple(outputs)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """The p-norm distance between every row of ``x1`` (..., P, M) and of ``x2`` (..., R, M):
    a (..., P, R) tensor, batch dims broadcast."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise OpRuntimeError("cdist", f"cdist only supports at least 2D tensors, got shapes {tuple(x1.shape)} "
                                      f"and {tuple(x2.shape)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise OpRuntimeError("cdist", f"X1 and X2 must have the same number of columns, got {x1.shape[-1]} "
                                      f"and {x2.shape[-1]}")
    if not isinstance(p, (int, float)) or p < 0 or math.isnan(p):
        raise OpRuntimeError("cdist", f"cdist only supports non-negative p values, got {p!r}")
    if x1.array.dtype.kind != "f" or x2.array.dtype.kind != "f":
        raise OpRuntimeError("cdist", f"cdist only supports floating-point dtypes, got {x1.dtype} and {x2.dtype}")
    differences = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    if differences.shape[-1] == 0:  # no coordinates: every distance is 0
        return differences.sum(-1)
    return norm(differences, p, dim=-1)
