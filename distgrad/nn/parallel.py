"""``torch.nn.parallel``'s spelling: ``from distgrad.nn.parallel import DistributedDataParallel``.

DistributedDataParallel is built on nn.Module, so this module sits above both nn and
distgrad.distributed: distgrad.nn's __init__ does not import it, distgrad's does."""
from ..distributed.ddp import DistributedDataParallel
from .data_parallel import DataParallel  # noqa: F401

DDP = DistributedDataParallel
