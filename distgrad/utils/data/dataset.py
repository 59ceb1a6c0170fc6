"""torch.utils.data.dataset's names."""
from ...data.combined import ChainDataset, StackDataset  # noqa: F401
from ...data.dataset import (ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,  # noqa: F401
                             random_split)

__all__ = ["ConcatDataset", "Dataset", "IterableDataset", "Subset", "TensorDataset", "random_split",
           "ChainDataset", "StackDataset"]
