"""Packing many arrays into one flat buffer and back (gradient buckets, coalesced broadcasts).

On the GPU, contiguous arrays of the buffer's dtype move in one kernel launch
(kernels.copy_segments) instead of one copy per array; anything else (NumPy arrays,
non-contiguous views) is copied array by array.
"""
from ..backend import is_gpu_array
from ..errors import OpTypeError, OpValueError


def pack(arrays, flat):
    """Copy ``arrays`` one after another into the 1-D ``flat``; returns ``flat``."""
    _copy(arrays, flat, True, "pack")
    return flat


def unpack(flat, arrays):
    """Copy consecutive slices of the 1-D ``flat`` back into ``arrays``, in place."""
    _copy(arrays, flat, False, "unpack")
    return arrays


def _copy(arrays, flat, to_flat, op):
    _check(arrays, flat, op)
    if _one_launch(arrays, flat):
        from . import kernels  # CuPy kernels: reached only with GPU arrays
        kernels.copy_segments(arrays, flat, to_flat)
        return
    offset = 0
    for a in arrays:
        if to_flat:
            flat[offset:offset + a.size] = a.reshape(-1)
        else:
            a[...] = flat[offset:offset + a.size].reshape(a.shape)
        offset += a.size


def _one_launch(arrays, flat):
    if not is_gpu_array(flat):
        return False
    from . import kernels  # CuPy kernels: reached only with GPU arrays
    return kernels.can_copy_segments(arrays, flat)


def _check(arrays, flat, op):
    if flat.ndim != 1:
        raise OpValueError(op, f"the flat buffer must be 1-D, got shape {tuple(flat.shape)}")
    total = sum(a.size for a in arrays)
    if total > flat.size:
        raise OpValueError(op, f"{len(arrays)} arrays hold {total} elements but the flat buffer has "
                               f"{flat.size}")
    for a in arrays:
        if a.dtype != flat.dtype or is_gpu_array(a) != is_gpu_array(flat):
            raise OpTypeError(op, f"every array must match the flat buffer ({flat.dtype} on {_where(flat)}), "
                                  f"got {a.dtype} on {_where(a)} (shape {tuple(a.shape)})")


def _where(array):
    return "cuda" if is_gpu_array(array) else "cpu"
