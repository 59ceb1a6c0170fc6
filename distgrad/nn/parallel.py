"""``torch.nn.parallel``'s spelling: ``from distgrad.nn.parallel import DistributedDataParallel``."""


def __getattr__(name):
    # Lazy, so importing distgrad.nn never imports the distributed package's MPI layer.
    if name in ("DistributedDataParallel", "DDP"):
        from ..distributed.ddp import DistributedDataParallel
        return DistributedDataParallel
    raise AttributeError(f"module 'distgrad.nn.parallel' has no attribute {name!r}")
