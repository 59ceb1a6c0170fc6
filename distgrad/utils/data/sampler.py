"""torch.utils.data.sampler's names."""
from ...data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,  # noqa: F401
                             SubsetRandomSampler)

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler"]
