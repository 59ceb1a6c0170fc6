"""Datasets, samplers and the DataLoader (PyTorch's torch.utils.data, also importable as
distgrad.utils.data)."""
from . import datasets, transforms
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler  # needs the process world, which imports no MPI
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .combined import ChainDataset, StackDataset

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "datasets", "default_collate", "default_convert", "random_split", "transforms",
           "WeightedRandomSampler", "ChainDataset", "StackDataset"]
