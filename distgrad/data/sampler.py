"""Samplers: which sample indices a DataLoader visits, in which order, in which batches."""
import numpy

from ..random import generator_for


class Sampler:
    """Base class: ``__iter__`` yields dataset indices; ``__len__`` says how many.

    Samplers that know a whole pass up front also define ``order()``, the pass as a NumPy
    array, which BatchSampler slices instead of collecting indices one by one.
    """

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def order(self):
        return numpy.arange(len(self.data_source))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random order every pass, drawn from ``generator`` (a distgrad.Generator) or,
    by default, from distgrad's global CPU generator, so ``distgrad.manual_seed`` makes the
    sequence of epochs reproducible."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer, got {num_samples!r}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        return iter(self.order().tolist())

    def order(self):
        n = len(self.data_source)
        rng = self.generator.rng if self.generator is not None else generator_for(numpy)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples)
        # num_samples beyond n repeats whole permutations, as PyTorch does
        rounds = -(-self.num_samples // n) if n else 0
        if not rounds:
            return numpy.empty(0, numpy.int64)
        return numpy.concatenate([rng.permutation(n) for _ in range(rounds)])[:self.num_samples]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a new random order every pass."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        rng = self.generator.rng if self.generator is not None else generator_for(numpy)
        return (self.indices[i] for i in rng.permutation(len(self.indices)).tolist())

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer, got {batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        order = getattr(self.sampler, "order", None)
        if order is not None:
            yield from self._slices(order())
            return
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def _slices(self, order):
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size].tolist()

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
