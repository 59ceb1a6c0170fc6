"""ZeroRedundancyOptimizer: ZeRO stage 1, the optimizer state sharded across ranks.

    opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=optim.Adam, lr=1e-3)

Every rank holds every parameter and (after DDP's all-reduce) every averaged gradient, but
each parameter is owned by one rank: only its owner keeps its optimizer state (Adam: two
more copies of it) and updates it; the owners then broadcast the updated parameters to the
other ranks. With N ranks each keeps about 1/N of the state. Parameters are assigned as
PyTorch assigns them: per group, largest first, each to the rank holding the fewest elements
so far, so the assignment is the same on every rank and adding a group keeps the old one.

The state dict is PyTorch's: ``consolidate_state_dict(to)`` gathers every shard on rank
``to``, whose ``state_dict()`` then has the layout of the plain optimizer over all parameters
(a plain Adam loads it, and so does a ZeroRedundancyOptimizer on any number of ranks).

Under ``DistributedDataParallel(..., gradient_as_shards=True)`` (ZeRO-2) the optimizer hands
this assignment to DDP's reducer when it is built (and again when a group is added): each
rank then receives only its own parameters' averaged gradients (see sharded_reducer.py).
"""
import math

import numpy

from ...backend import get_array_module
from ...nn.utils.clip_grad import _total_norm
from ...optim import Adam
from ...optim.optimizer import Optimizer
from ...tensor import Tensor
from ...world.coalesced import broadcast_arrays
from ...world.groups import group_communicator
from ..rooted import gather_object
from ..sharded_reducer import sharded_reducer_of


class ZeroRedundancyOptimizer(Optimizer):
    """PyTorch's ZeroRedundancyOptimizer. ``parameters_as_bucket_view`` is accepted and changes
    nothing (parameters stay separate arrays); ``overlap_with_ddp=True`` is not supported."""

    def __init__(self, params, optimizer_class=Adam, process_group=None, parameters_as_bucket_view=False,
                 overlap_with_ddp=False, **defaults):
        self.comm = group_communicator(process_group, "ZeroRedundancyOptimizer")
        if overlap_with_ddp:
            raise self.comm.error("ZeroRedundancyOptimizer: overlap_with_ddp=True (updates run from DDP's "
                                  "communication hook) is not supported; leave it False", NotImplementedError)
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
            raise self.comm.error(f"ZeroRedundancyOptimizer: optimizer_class must be an optimizer class such as "
                                  f"optim.Adam, got {optimizer_class!r}", TypeError)
        self.process_group, self.rank, self.world_size = process_group, self.comm.rank, self.comm.size
        self.optimizer_class, self.parameters_as_bucket_view = optimizer_class, parameters_as_bucket_view
        self._consolidated = None
        self.optim = None
        super().__init__(params, defaults)
        self.optim = optimizer_class(self._local_groups(), **defaults)
        self.state = self.optim.state
        self._sharded_reducer = sharded_reducer_of(p for group in self.param_groups for p in group["params"])
        self._hand_over_owners()

    # ----------------------------------------------------------------- who owns what
    def _partition(self):
        """owners[g][k]: the rank that owns parameter k of group g (the same on every rank)."""
        sizes = [0] * self.world_size
        owners = []
        for group in self.param_groups:
            ranks = [0] * len(group["params"])
            by_size = sorted(range(len(group["params"])), key=lambda k: -group["params"][k].numel())
            for k in by_size:  # sorted() is stable: equal sizes keep their order
                rank = sizes.index(min(sizes))
                ranks[k] = rank
                sizes[rank] += group["params"][k].numel()
            owners.append(ranks)
        return owners

    def _owned(self, rank):
        """(group index, index in group) of each parameter ``rank`` owns, in its optimizer's order."""
        return [(g, k) for g, ranks in enumerate(self._partition()) for k, r in enumerate(ranks) if r == rank]

    def _local_group(self, g):
        group = self.param_groups[g]
        owners = self._partition()[g]
        return dict(group, params=[p for p, r in zip(group["params"], owners) if r == self.rank])

    def _local_groups(self):
        return [self._local_group(g) for g in range(len(self.param_groups))]

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        if self.optim is not None:  # later groups never move earlier parameters (see _partition)
            self.optim.add_param_group(self._local_group(len(self.param_groups) - 1))
            self._hand_over_owners()

    def _hand_over_owners(self):
        """ZeRO-2: DDP's sharded reducer sends each parameter's gradient to its owner only."""
        if self._sharded_reducer is not None:
            self._sharded_reducer.set_owners({id(p): rank for group, ranks in zip(self.param_groups, self._partition())
                                              for p, rank in zip(group["params"], ranks)})

    # ----------------------------------------------------------------- the update
    def _sync_hyperparameters(self, source, target):
        """Copy learning rates etc. (a scheduler changes this optimizer's groups) across."""
        for src, dst in zip(source, target):
            for key, value in src.items():
                if key != "params":
                    dst[key] = value

    def step(self, closure=None):
        """Update this rank's own parameters, then every rank receives the others' from their owners."""
        self._sync_hyperparameters(self.param_groups, self.optim.param_groups)
        loss = self.optim.step(closure)
        self._sync_hyperparameters(self.optim.param_groups, self.param_groups)
        self._share_parameters()
        return loss

    def _share_parameters(self):
        if self.world_size == 1:
            return
        owners = self._partition()
        for rank in range(self.world_size):
            params = [self.param_groups[g]["params"][k] for g, ranks in enumerate(owners)
                      for k, r in enumerate(ranks) if r == rank]
            broadcast_arrays(self.comm, [p.array for p in params], root=rank)
            if rank != self.rank:
                for p in params:
                    p._bump_version()  # graphs that saved the old value must not use it

    def clip_grad_norm_(self, max_norm, norm_type=2.0):
        """Collective: clip_grad_norm_ over all parameters, each rank scaling its own
        parameters' gradients (under ZeRO-2 a rank has no others; nn.utils.clip_grad_norm_
        would see only this rank's share). Returns the total norm before clipping."""
        norm_type = float(norm_type)
        grads = [p.grad.array for group in self.optim.param_groups for p in group["params"] if p.grad is not None]
        local = 0.0
        if grads:
            xp = get_array_module(grads[0])
            local = float(_total_norm(xp, grads, norm_type))
        if norm_type == math.inf:
            total = float(self.comm.allreduce(numpy.array([local]), "max")[0])
        else:
            total = float(self.comm.allreduce(numpy.array([local ** norm_type]), "sum")[0]) ** (1.0 / norm_type)
        coef = min(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g *= g.dtype.type(coef)
        return Tensor._wrap(numpy.asarray(total, numpy.float32))

    # ----------------------------------------------------------------- checkpoints
    def consolidate_state_dict(self, to=0):
        """Collective: rank ``to`` gathers every rank's shard of the state (the others keep nothing)."""
        shard = {key: _to_arrays(values) for key, values in self.optim.state_dict()["state"].items()}
        gathered = [None] * self.world_size if self.rank == to else None
        gather_object(shard, gathered, dst=to, group=self.process_group)
        self._consolidated = None
        if self.rank != to:
            return
        index = self._global_index()
        state = {}
        for rank, local in enumerate(gathered):
            owned = self._owned(rank)
            for key, values in local.items():
                state[index[owned[int(key)]]] = _to_tensors(values)
        self._consolidated = dict(sorted(state.items()))

    def _global_index(self):
        """{(group index, index in group): index in the state dict} (PyTorch's numbering)."""
        return {(g, k): n for n, (g, k) in enumerate((g, k) for g, group in enumerate(self.param_groups)
                                                     for k in range(len(group["params"])))}

    def state_dict(self):
        """The whole optimizer's state; only on the rank consolidate_state_dict sent it to."""
        if self._consolidated is None:
            raise RuntimeError(f"ZeroRedundancyOptimizer: rank {self.rank} has no consolidated state; call "
                               "consolidate_state_dict(to=rank) on every rank first and state_dict() on that rank")
        packed = super().state_dict()  # the layout and hyperparameters; its state is this shard's only
        packed["state"] = dict(self._consolidated)
        return packed

    def load_state_dict(self, state_dict):
        """Load a whole optimizer's state (from any number of ranks, or from the plain
        optimizer): each rank keeps its own parameters' entries."""
        Optimizer.load_state_dict(self, {"state": {}, "param_groups": state_dict["param_groups"]})  # checks
        index = self._global_index()
        saved = {int(key): values for key, values in state_dict["state"].items()}
        local_state = {}
        for local_key, position in enumerate(self._owned(self.rank)):
            if index[position] in saved:
                local_state[local_key] = saved[index[position]]
        local_groups = []
        for g, group in enumerate(self._local_groups()):
            local_groups.append(dict({k: v for k, v in group.items() if k != "params"},
                                     params=[n for n, (gg, _) in enumerate(self._owned(self.rank)) if gg == g]))
        self.optim.load_state_dict({"state": local_state, "param_groups": local_groups})
        self.state = self.optim.state
        self._consolidated = None


def _to_arrays(values):
    """One parameter's state with its Tensors as arrays: tensors are not pickled between ranks."""
    return {name: v.array if isinstance(v, Tensor) else v for name, v in values.items()}


def _to_tensors(values):
    return {name: Tensor._wrap(v) if hasattr(v, "dtype") and hasattr(v, "shape") else v
            for name, v in values.items()}
