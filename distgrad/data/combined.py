"""Datasets built from others: ChainDataset (streams one after another) and StackDataset
(the same index of several datasets, as a tuple or a dict), as torch.utils.data has them."""
from .dataset import Dataset, IterableDataset


def _streams(datasets):
    for d in datasets:
        if not isinstance(d, IterableDataset):
            raise TypeError(f"ChainDataset: every dataset must be an IterableDataset, got {type(d).__name__}; "
                            "use ConcatDataset for map-style datasets")
        yield d


class ChainDataset(IterableDataset):
    """The streams of ``datasets`` one after another, read lazily (nothing is gathered up front)."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in _streams(self.datasets):
            yield from d

    def __len__(self):
        return sum(len(d) for d in _streams(self.datasets))


class StackDataset(Dataset):
    """Sample ``i`` is ``(a[i], b[i], ...)`` for ``StackDataset(a, b)``, or ``{"x": a[i], ...}``
    for ``StackDataset(x=a, ...)``; every dataset must have the same length."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: pass the datasets either by position (samples are tuples) or by "
                             "keyword (samples are dicts), not both")
        if not args and not kwargs:
            raise ValueError("StackDataset: at least one dataset should be passed")
        self.datasets = args if args else kwargs
        lengths = [len(d) for d in (args or kwargs.values())]
        if len(set(lengths)) != 1:
            raise ValueError(f"StackDataset: size mismatch between datasets, got lengths {lengths}")
        self._length = lengths[0]

    def _named(self):
        return self.datasets.items() if isinstance(self.datasets, dict) else enumerate(self.datasets)

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {key: d[index] for key, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices):
        """One batched read per dataset where it offers ``__getitems__``."""
        columns = {}
        for key, d in self._named():
            getitems = getattr(d, "__getitems__", None)
            column = getitems(list(indices)) if getitems is not None else [d[i] for i in indices]
            if len(column) != len(indices):
                raise ValueError(f"StackDataset: dataset {key!r} returned {len(column)} samples for "
                                 f"{len(indices)} indices")
            columns[key] = column
        if isinstance(self.datasets, dict):
            return [dict(zip(columns, row)) for row in zip(*columns.values())]
        return [tuple(row) for row in zip(*columns.values())]

    def __len__(self):
        return self._length
