"""Small helpers shared by the data modules: raw arrays in and out of Tensors."""
import numpy

from ..backend import get_array_module, move
from ..random import generator_for
from ..tensor import Tensor


def rng_of(generator):
    """The NumPy generator behind a distgrad.Generator, or distgrad's global CPU one."""
    return generator.rng if generator is not None else generator_for(numpy)


def array_of(x):
    """The raw array behind a Tensor (NumPy/CuPy arrays pass through)."""
    return x.array if isinstance(x, Tensor) else x


def index_array(indices, like=None):
    """Sample indices as an integer array on the device of the array ``like`` (default CPU)."""
    xp = numpy if like is None else get_array_module(like)
    if xp is numpy:  # numpy.asarray(Tensor) brings indices held on a GPU to the host
        idx = numpy.asarray(indices)
        idx = idx.astype(numpy.intp, copy=False) if idx.size else idx.astype(numpy.intp)
    else:
        idx = xp.asarray(array_of(indices))
    if idx.ndim != 1:
        raise IndexError(f"batch indices must be one-dimensional, got shape {tuple(idx.shape)}")
    return idx


def take(x, idx):
    """``x[idx]`` for a Tensor or an array, as a Tensor, without recording a graph for data."""
    array = array_of(x)
    if isinstance(x, Tensor) and x.requires_grad:
        return x[idx]  # keep autograd semantics for the rare dataset that requires grad
    return Tensor._wrap(array[index_array(idx, array)])


def to_device(obj, device):
    """Move every Tensor in a nested batch (tuples, lists, dicts) to ``device``."""
    if isinstance(obj, Tensor):
        return Tensor._wrap(move(obj.array, device))
    if isinstance(obj, dict):
        return type(obj)((k, to_device(v, device)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj
