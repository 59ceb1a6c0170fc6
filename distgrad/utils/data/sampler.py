"""torch.utils.data.sampler's names."""
from ...data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,  # noqa: F401
                             SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler",
           "WeightedRandomSampler"]
