"""Datasets: map-style (``len`` + ``__getitem__``) and iterable, as torch.utils.data.

A map-style dataset may also define ``get_batch(indices)`` returning a whole collated batch
(what ``default_collate`` would build from the samples). The DataLoader uses it instead of
one ``__getitem__`` per sample, so datasets that hold whole arrays are batched with one
fancy-index per array.
"""
import bisect
import math

import numpy

from ..tensor import Tensor
from ._util import array_of, index_array, rng_of, take
from .collate import default_collate


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of datasets read as a stream: subclasses define ``__iter__``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        from .combined import ChainDataset  # combined.py builds on this module
        return ChainDataset([self, other])


def fetch_batch(dataset, indices, collate_fn=None):
    """The collated batch of ``dataset`` at ``indices``, by the fastest route it offers.

    ``get_batch`` (whole-array gather) serves the default collation only; a custom
    ``collate_fn`` gets the list of samples, from ``__getitems__`` where defined.
    """
    if collate_fn is None or collate_fn is default_collate:
        get_batch = getattr(dataset, "get_batch", None)
        if get_batch is not None:
            return get_batch(indices)
        collate_fn = default_collate
    getitems = getattr(dataset, "__getitems__", None)
    samples = getitems(list(indices)) if getitems is not None else [dataset[int(i)] for i in indices]
    return collate_fn(samples)


class TensorDataset(Dataset):
    """Samples are the rows of tensors sharing their first dimension: ``(x[i], y[i], ...)``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError("TensorDataset: all tensors must have the same size in the first "
                             f"dimension, got shapes {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def get_batch(self, indices):
        return [take(t, indices) for t in self.tensors]  # a list, as default_collate gives


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        self._cached = (None, None)  # (indices object, its index array) for get_batch

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices):
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)

    def get_batch(self, indices):
        source, array = self._cached
        if source is not self.indices or len(array) != len(self.indices):
            array = index_array(array_of(self.indices))
            self._cached = (self.indices, array)
        return fetch_batch(self.dataset, array[index_array(indices)])


class ConcatDataset(Dataset):
    """The datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(numpy.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"index {index} is out of range for a dataset of length {len(self)}")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == len(self.datasets):
            raise IndexError(f"index {index} is out of range for a dataset of length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping random Subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) and 0 <= x <= 1 for x in lengths) and math.isclose(sum(lengths), 1):
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):  # hand the remainder out round-robin, as PyTorch does
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, "
                         f"but the dataset has {n} samples")
    rng = rng_of(generator)
    perm = rng.permutation(n).tolist()
    splits, offset = [], 0
    for length in lengths:
        splits.append(Subset(dataset, perm[offset:offset + length]))
        offset += length
    return splits
