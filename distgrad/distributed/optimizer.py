"""DistributedOptimizer (Horovod's style) and the broadcasts that start training in step.

``DistributedOptimizer(opt)`` wraps any distgrad optimizer: gradient all-reduces start
from the same gradient-ready hooks DDP uses, in buckets, while backward runs; ``step()``
waits for them (``synchronize()``) and then applies ``opt``'s own rule. The result is an
instance of a subclass of ``type(opt)`` sharing its param_groups and state, so learning-rate
schedulers and checkpoints treat it as the optimizer it wraps.
"""
import contextlib

from ..backend import move
from ..function import enable_grad
from ..tensor import Tensor
from ..world.buckets import MB
from ..world.coalesced import broadcast_arrays
from ..world.groups import group_communicator
from ..world.state import communicator
from ._checks import check_rank
from .compression import checked_compression
from .model_check import check_same_model, model_fingerprint
from .reducer import Reducer


class _DistributedOptimizer:
    """Mixed in before the wrapped optimizer's class."""

    def _setup(self, named_parameters, compression, backward_passes_per_step, bucket_cap_mb, process_group):
        comm = group_communicator(process_group, "DistributedOptimizer")
        if backward_passes_per_step < 1:
            raise comm.error(f"DistributedOptimizer: backward_passes_per_step must be at least 1, got "
                             f"{backward_passes_per_step}", ValueError)
        compression = checked_compression(comm, compression, "DistributedOptimizer")
        names = {}
        if named_parameters is not None:
            names = {id(p): name for name, p in named_parameters}
        params, param_names = [], []
        for g, group in enumerate(self.param_groups):
            for k, p in enumerate(group["params"]):
                if p.requires_grad:
                    params.append(p)
                    param_names.append(names.get(id(p), f"param_groups[{g}]['params'][{k}]"))
        check_same_model(comm, model_fingerprint(zip(param_names, params)), "DistributedOptimizer")
        self._dist_comm = comm
        self._dist_reducer = None
        self._dist_skip = False
        if comm.size > 1 and params:
            k = backward_passes_per_step
            self._dist_reducer = Reducer(
                params, param_names, comm, bucket_cap_bytes=int(bucket_cap_mb * MB), compression=compression,
                finish_at_backward_end=False, passes_per_sync=k, owner="DistributedOptimizer",
                late_gradient_hint=f"More backward passes ran before step() than backward_passes_per_step={k}; "
                                   "raise backward_passes_per_step to accumulate over more passes, or call "
                                   "step() (or synchronize()) after each.")
            self._dist_reducer.install_hooks()

    def synchronize(self):
        """Wait until every gradient is averaged across ranks (step() calls this)."""
        if self._dist_reducer is not None:
            self._dist_reducer.finish()

    @contextlib.contextmanager
    def skip_synchronize(self):
        """For changing averaged gradients before the update (Horovod's pattern)::

            optimizer.synchronize()
            clip_grad_norm_(model.parameters(), 1.0)
            with optimizer.skip_synchronize():
                optimizer.step()
        """
        self._dist_skip = True
        try:
            yield
        finally:
            self._dist_skip = False

    def step(self, closure=None):
        loss = None
        if closure is not None:  # the closure's backward must come before the reduction
            with enable_grad():
                loss = closure()
        if not self._dist_skip:
            self.synchronize()
        super().step()
        return loss


def DistributedOptimizer(optimizer, named_parameters=None, compression=None, backward_passes_per_step=1,
                         bucket_cap_mb=25, process_group=None):
    """Wrap ``optimizer`` so that ``step()`` uses gradients averaged over all ranks.

    ``named_parameters`` (e.g. ``model.named_parameters()``) only names parameters in
    messages. With ``backward_passes_per_step=k``, gradients of k backward passes are summed
    locally and reduced once, during the k-th. ``compression`` as for DDP. Do not also wrap
    the model in DistributedDataParallel: the gradients would be reduced twice.
    ``process_group`` (from ``new_group``; Horovod's process sets): average over its ranks only.
    """
    base = type(optimizer)
    cls = type(f"Distributed{base.__name__}", (_DistributedOptimizer, base), {})
    wrapped = cls.__new__(cls)
    wrapped.__dict__.update(optimizer.__dict__)  # the same param_groups and state objects
    wrapped._setup(named_parameters, compression, backward_passes_per_step, bucket_cap_mb, process_group)
    return wrapped


def broadcast_parameters(params, src=0):
    """Overwrite parameters (and buffers) with rank ``src``'s, in place. ``params``: a Module
    (its state_dict: parameters and buffers), a state_dict-like dict, a list of
    (name, tensor) pairs or a list of tensors."""
    comm = communicator()
    if hasattr(params, "state_dict") and callable(params.state_dict):
        tensors = list(params.state_dict().values())
    elif isinstance(params, dict):
        tensors = list(params.values())
    else:
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
    for t in tensors:
        if not isinstance(t, Tensor):
            raise comm.error(f"broadcast_parameters: expected tensors, got {type(t).__name__}", TypeError)
    broadcast_arrays(comm, [t.array for t in tensors], root=_check_src(comm, src, "broadcast_parameters"))
    for t in tensors:
        t._bump_version()


def broadcast_optimizer_state(optimizer, src=0):
    """Give every rank rank ``src``'s optimizer state (momentum buffers, step counts,
    hyper-parameters such as lr), through ``state_dict``/``load_state_dict``."""
    comm = communicator()
    src = _check_src(comm, src, "broadcast_optimizer_state")
    if comm.size == 1:
        return
    state = _to_plain(optimizer.state_dict()) if comm.rank == src else None
    state = comm.broadcast_object(state, src)
    if comm.rank != src:
        optimizer.load_state_dict(_from_plain(state))


def _check_src(comm, src, what):
    return check_rank(comm, src, what, "src")


class _Array:
    """A tensor's values in a pickled optimizer state (tensors themselves do not pickle)."""

    def __init__(self, array):
        self.array = move(array, "cpu")


def _to_plain(obj):
    if isinstance(obj, Tensor):
        return _Array(obj.array)
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_plain(v) for v in obj)
    return obj


def _from_plain(obj):
    if isinstance(obj, _Array):
        return Tensor._wrap(obj.array)
    if isinstance(obj, dict):
        return {k: _from_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_from_plain(v) for v in obj)
    return obj
