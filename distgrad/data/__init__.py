"""Datasets, samplers and the DataLoader (PyTorch's torch.utils.data, also importable as
distgrad.utils.data)."""
from . import datasets, transforms
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

# DistributedSampler is left out of __all__ so that a star import stays free of MPI.
__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
           "SubsetRandomSampler", "TensorDataset", "datasets", "default_collate", "default_convert",
           "random_split", "transforms"]


def __getattr__(name):
    # Imported on first use: distgrad.distributed may pull in MPI, which plain data loading
    # should not need.
    if name == "DistributedSampler":
        from ..distributed.sampler import DistributedSampler
        return DistributedSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
