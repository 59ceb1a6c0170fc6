"""torch.utils.data.distributed's names."""
from ...data.distributed import DistributedSampler  # noqa: F401

__all__ = ["DistributedSampler"]
