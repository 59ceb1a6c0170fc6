"""The process world under distgrad.distributed: init, rank and size (state.py), process
groups (groups.py), the communicators (comm/), the liveness watchdog and failure handling,
and collectives on plain arrays (coalesced.py, sync_batchnorm.py).

It imports only the engine, so nn (SyncBatchNorm) and data (DistributedSampler) can build
on it; distgrad.distributed, torch.distributed's public API, is built on it and on nn.
Importing it never imports MPI: the communicators import mpi4py when one is created.
"""
