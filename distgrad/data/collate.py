"""Turning a list of samples into a batch: default_collate and default_convert."""
import collections.abc

import numpy

from .. import dtypes
from ..backend import get_array_module
from ..tensor import Tensor


def default_collate(batch):
    """Stack a list of samples into Tensors, keeping the samples' structure.

    Tensors and NumPy arrays are stacked along a new first dimension (their dtype kept);
    Python floats become float32 (the default dtype), ints int64, bools bool; dicts are
    collated per key, tuples and lists per position (as lists, like PyTorch); strings
    stay as given.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        arrays = [b.array for b in batch]
        return Tensor._wrap(get_array_module(arrays[0]).stack(arrays))
    if isinstance(elem, (numpy.ndarray, numpy.generic)) and not isinstance(elem, (numpy.str_, numpy.bytes_)):
        if elem.dtype.kind in "OSUV":
            raise TypeError(f"default_collate: can't batch NumPy arrays of dtype {elem.dtype}")
        return Tensor._wrap(numpy.stack([numpy.asarray(b) for b in batch]))
    if hasattr(elem, "__cuda_array_interface__"):  # a CuPy array
        return Tensor._wrap(get_array_module(elem).stack(batch))
    if isinstance(elem, bool):
        return Tensor._wrap(numpy.array(batch, dtype=dtypes.bool))
    if isinstance(elem, int):
        return Tensor._wrap(numpy.array(batch, dtype=dtypes.int64))
    if isinstance(elem, float):
        return Tensor._wrap(numpy.array(batch, dtype=dtypes.get_default_dtype()))
    if isinstance(elem, (str, bytes)):
        return batch  # as given: a list from the loader, a tuple inside a collated sequence (as PyTorch)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        return collated if type(elem) is dict else type(elem)(collated)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("default_collate: each element in the batch should be of equal size, got "
                               f"sizes {sorted({len(b) for b in batch})}")
        return [default_collate(s) for s in zip(*batch)]
    raise TypeError("default_collate: a batch must contain Tensors, NumPy arrays, numbers, dicts or "
                    f"lists; found {type(elem).__name__}")


def default_convert(data):
    """Without batching (batch_size=None): NumPy arrays become Tensors, structure kept."""
    if isinstance(data, numpy.ndarray) and data.dtype.kind not in "OSUV":
        return Tensor._wrap(data)
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return [default_convert(d) for d in data]
    return data
