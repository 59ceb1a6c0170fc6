"""torch.distributed.optim's place: optimizers that know about the ranks."""
from .zero_redundancy_optimizer import ZeroRedundancyOptimizer

__all__ = ["ZeroRedundancyOptimizer"]
