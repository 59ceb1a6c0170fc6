"""Parameters as one flat vector and back (torch.nn.utils.convert_parameters)."""
from ...ops.shape import cat
from ...tensor import Tensor


def parameters_to_vector(parameters):
    """All parameters flattened into one 1-D tensor (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D Tensor, got {type(vec).__name__}")
    offset = 0
    for p in parameters:
        n = p.numel()
        if offset + n > vec.numel():
            raise ValueError(f"vector_to_parameters: vector of {vec.numel()} elements is too short for the parameters")
        p.array[...] = vec.array[offset:offset + n].reshape(p.array.shape)
        p._bump_version()
        offset += n
