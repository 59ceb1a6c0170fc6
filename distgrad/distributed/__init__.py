"""distgrad.distributed: data parallelism over MPI (or NCCL), torch.distributed's API.

    import distgrad.distributed as dist
    dist.init()                                  # optional: first use initializes ("auto")
    model = dist.DistributedDataParallel(model)  # gradients averaged during backward
    loss.backward(); optimizer.step()

``python train.py`` is a world of one (MPI is not even imported); ``mpiexec -n 4 python
train.py`` is four ranks. Environment: DISTGRAD_STALL_WARNING_SECONDS (default 60),
DISTGRAD_DEBUG=1 (check every collective across ranks), DISTGRAD_ALLOW_GPU_SHARING=1,
DISTGRAD_CUDA_AWARE_MPI=0|1, DISTGRAD_PEER_TIMEOUT (seconds without heartbeats before a peer
counts as lost, default 30), DISTGRAD_LIVENESS=0 (no heartbeat watchdog),
DISTGRAD_LIVENESS_ADDRESS (the address heartbeats use).

The process world under this API (init, ranks, groups, communicators, liveness) is
distgrad.world, which nn.SyncBatchNorm and data.DistributedSampler build on; this package
adds the Tensor collectives, DistributedDataParallel and DistributedOptimizer.
"""
from ..utils.nonfinite import check_finite, step_if_finite  # it also serves a world of one
from ..world.comm.base import Work
from ..world.groups import GroupMember, ProcessGroup, get_process_group_ranks, get_rank, get_world_size, new_group
from ..world.state import (communicator, finalize, get_backend, get_local_rank, get_local_world_size, init,
                           init_process_group, is_available, is_initialized)
from .collectives import (ReduceOp, all_gather, all_gather_into_tensor, all_gather_object, all_reduce,
                          barrier, broadcast, broadcast_object, broadcast_object_list, group, iall_gather,
                          iall_reduce, ibroadcast, ireduce_scatter, reduce_scatter, reduce_scatter_tensor)
from .rooted import gather, gather_object, reduce, scatter
from .monitored_barrier import monitored_barrier
from .point_to_point import irecv, isend, recv, send
from .agreement import check_epoch
from .compression import Compression, Compressor
from .ddp import DistributedDataParallel
from .optimizer import DistributedOptimizer, broadcast_optimizer_state, broadcast_parameters
from . import optim  # noqa: E402  (torch.distributed.optim: ZeroRedundancyOptimizer)

DDP = DistributedDataParallel


destroy_process_group = finalize

__all__ = ["all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "barrier",
           "broadcast", "broadcast_object", "broadcast_object_list", "broadcast_optimizer_state",
           "broadcast_parameters", "check_epoch", "check_finite", "communicator", "Compression",
           "Compressor", "DDP", "destroy_process_group", "DistributedDataParallel", "DistributedOptimizer",
           "finalize", "gather", "gather_object", "get_backend", "get_local_rank", "get_local_world_size",
           "get_process_group_ranks", "get_rank", "get_world_size", "group", "GroupMember", "monitored_barrier", "iall_gather",
           "iall_reduce", "ibroadcast", "init", "init_process_group", "irecv", "ireduce_scatter",
           "is_available", "is_initialized", "isend", "new_group", "ProcessGroup", "recv", "reduce",
           "reduce_scatter", "reduce_scatter_tensor", "ReduceOp", "scatter", "send", "step_if_finite",
           "Work"]
