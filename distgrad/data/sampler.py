"""Samplers: which sample indices a DataLoader visits, in which order, in which batches."""
import numpy

from ._util import rng_of


class Sampler:
    """Base class: ``__iter__`` yields dataset indices; ``__len__`` says how many.

    Samplers that know a pass in advance also define ``chunks()``, the pass as a sequence of
    NumPy arrays, which BatchSampler slices instead of collecting indices one by one.
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

    def chunks(self):
        return [numpy.arange(len(self.data_source))]

    def __len__(self):
        return len(self.data_source)


# Draws with replacement come in chunks of this many indices, so a pass of 10**10 samples
# costs memory for one chunk, not for the whole pass (torch.utils.data draws lazily too).
_CHUNK = 1 << 16


def _check_num_samples(owner, num_samples):
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError(f"{owner}: num_samples should be a positive integer, got {num_samples!r}")


def _chunked(num_samples, draw):
    """``draw(k)`` called for chunks of at most _CHUNK indices, ``num_samples`` in all."""
    for start in range(0, num_samples, _CHUNK):
        yield draw(min(_CHUNK, num_samples - start))


class _ChunkedSampler(Sampler):
    """A sampler whose pass is a sequence of index arrays (``chunks()``): iterated lazily,
    and sliced into batches by BatchSampler without building the whole pass."""

    def __iter__(self):
        for chunk in self.chunks():
            yield from chunk.tolist()


class RandomSampler(_ChunkedSampler):
    """A new random order every pass, drawn from ``generator`` (a distgrad.Generator) or,
    by default, from distgrad's global CPU generator, so ``distgrad.manual_seed`` makes the
    sequence of epochs reproducible."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise ValueError(f"RandomSampler: replacement should be a boolean, got {replacement!r}")
        if num_samples is not None:
            _check_num_samples("RandomSampler", num_samples)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def chunks(self):
        n = len(self.data_source)
        rng = rng_of(self.generator)
        if self.replacement:
            yield from _chunked(self.num_samples, lambda k: rng.integers(0, n, size=k))
            return
        # num_samples beyond n repeats whole permutations, as PyTorch does
        for start in range(0, self.num_samples if n else 0, n or 1):
            yield rng.permutation(n)[:self.num_samples - start]

    def __len__(self):
        return self.num_samples


class WeightedRandomSampler(_ChunkedSampler):
    """``num_samples`` indices in [0, len(weights)), index i drawn with probability
    proportional to ``weights[i]`` (with or without replacement), as torch.multinomial draws."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _check_num_samples("WeightedRandomSampler", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean, got {replacement!r}")
        weights = numpy.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=numpy.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1-D sequence, got shape {weights.shape}")
        if not numpy.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > len(weights):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                               f"from {len(weights)} weights")
        self.weights = weights
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def chunks(self):
        rng, n = rng_of(self.generator), len(self.weights)
        if self.replacement:
            p = self.weights / self.weights.sum()
            yield from _chunked(self.num_samples, lambda k: rng.choice(n, size=k, p=p))
        else:
            # An exponential race: index i finishes at Exp(1) / w_i, so the order of finishing is
            # sequential weighted draws without replacement; zero weights come last, in random order.
            with numpy.errstate(divide="ignore"):
                finish = rng.exponential(size=n) / self.weights
            yield numpy.lexsort((rng.random(n), finish))[:self.num_samples]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a new random order every pass."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        return (self.indices[i] for i in rng_of(self.generator).permutation(len(self.indices)).tolist())

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
        if hasattr(self.sampler, "chunks"):
            yield from self._from_chunks(self.sampler.chunks())
            return
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def _from_chunks(self, chunks):
        """Batches sliced from index arrays; a batch may span the end of one and the start of the next."""
        carry = numpy.empty(0, numpy.int64)
        for chunk in chunks:
            chunk = numpy.concatenate([carry, chunk]) if len(carry) else chunk
            whole = len(chunk) - len(chunk) % self.batch_size
            for start in range(0, whole, self.batch_size):
                yield chunk[start:start + self.batch_size].tolist()
            carry = chunk[whole:]
        if len(carry) and not self.drop_last:
            yield carry.tolist()

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
