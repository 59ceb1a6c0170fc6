"""DistributedDataParallel: wrap a model, and ``loss.backward()`` returns with every
gradient averaged across ranks.

At construction every rank checks that all ranks hold the same model, then takes rank 0's
parameters and buffers. During backward a Reducer (reducer.py) all-reduces gradients in
buckets while the rest of backward runs; backward returns once every bucket is reduced.
After the first step the buckets are rebuilt once in the order gradients actually arrived.
Buffers (BatchNorm statistics) are broadcast from rank 0 before each training forward and
before the first forward without gradients after training (evaluation), as PyTorch does.
In a world of one nothing is installed: the wrapper calls the module straight. ``join()``
handles ranks with different numbers of batches (join.py).

Names: ``state_dict()``, ``named_parameters()`` and ``named_buffers()`` use the wrapped
module's names, without the ``module.`` prefix PyTorch adds, so checkpoints move freely
between distributed and single-process runs; ``load_state_dict`` also accepts keys with
the prefix (checkpoints written by PyTorch's DDP).
"""
import contextlib

from ..function import is_grad_enabled
from ..nn.module import Module
from ..utils.logging import get_logger
from ..world.buckets import MB
from ..world.coalesced import broadcast_arrays
from ..world.groups import group_communicator
from .compression import checked_compression
from .join import Join
from .model_check import check_same_model, model_fingerprint
from .reducer import Reducer
from .sharded_reducer import ShardedReducer

_log = get_logger("distgrad.distributed")


class DistributedDataParallel(Module):
    """``DistributedDataParallel(module, bucket_cap_mb=25, broadcast_buffers=True,
    find_unused_parameters=False, compression=None)``.

    ``compression``: None (float32 on the wire), ``Compression.fp16``, ``Compression.bf16``
    or any object with ``compress``/``decompress``. ``overlap=False`` starts all reductions
    at the end of backward instead of during it (for measurements). ``device_ids``,
    ``output_device``, ``dim``, ``gradient_as_bucket_view`` and ``static_graph`` are accepted
    for PyTorch compatibility; each rank already uses its own device and gradients always
    live in the buckets. ``process_group`` (from ``new_group``): average over its ranks only.
    ``gradient_as_shards=True`` (ZeRO-2, with a ZeroRedundancyOptimizer): each rank keeps only
    the averaged gradients of the parameters its optimizer owns (sharded_reducer.py).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False, compression=None,
                 overlap=True, gradient_as_bucket_view=True, static_graph=False, gradient_as_shards=False):
        super().__init__()
        comm = group_communicator(process_group, "DistributedDataParallel")
        if not isinstance(module, Module):
            raise comm.error(f"DistributedDataParallel: expected a distgrad.nn.Module, got "
                             f"{type(module).__name__}", TypeError)
        if bucket_cap_mb <= 0:
            raise comm.error(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}",
                             ValueError)
        compression = checked_compression(comm, compression, "DistributedDataParallel")
        self.module = module
        self.comm = comm
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        named_params = list(module.named_parameters())
        named_buffers = list(module.named_buffers())
        check_same_model(comm, model_fingerprint(named_params, named_buffers), "DistributedDataParallel")
        broadcast_arrays(comm, [p.array for _, p in named_params] + [b.array for _, b in named_buffers])
        # Broadcast before each training forward (from rank 0, or from join()'s source rank)
        # and before the first evaluation forward after training.
        self.synced_buffers = [b for _, b in named_buffers] if broadcast_buffers else []
        self._buffers_diverged = False  # a training forward ran since the last broadcast
        self._batch_logged = False
        self._join = None  # the Join context this model is in, if any
        trained = [(name, p) for name, p in named_params if p.requires_grad]
        self.reducer, self._sync_without_reducer = None, True
        if comm.size > 1 and trained:
            self.reducer = (ShardedReducer if gradient_as_shards else Reducer)(
                [p for _, p in trained], [name for name, _ in trained], comm,
                bucket_cap_bytes=int(bucket_cap_mb * MB), compression=compression,
                find_unused_parameters=find_unused_parameters, overlap=overlap,
                owner="DistributedDataParallel",
                late_gradient_hint="With find_unused_parameters=True, a parameter the forward's outputs "
                                   "do not depend on is taken as unused; compute the loss from "
                                   "DistributedDataParallel's outputs.")
            self.reducer.install_hooks()

    def forward(self, *inputs, **kwargs):
        reducer = self.reducer
        if reducer is None:  # a world of one: nothing to do
            return self.module(*inputs, **kwargs)
        grad_enabled = is_grad_enabled()
        source = self._join.step_begins() if self._join is not None and grad_enabled else 0
        # As PyTorch: every training forward, and the first forward without gradients after
        # one (evaluation), since that training forward changed each rank's buffers its own
        # way. Later ones need not: the ranks may evaluate different numbers of batches.
        if self.synced_buffers and (grad_enabled or self._buffers_diverged):
            broadcast_arrays(self.comm, [b.array for b in self.synced_buffers], root=source)
        self._buffers_diverged = grad_enabled
        if not self._batch_logged:
            self._log_global_batch(inputs)
        outputs = self.module(*inputs, **kwargs)
        if self.find_unused_parameters and reducer.sync and grad_enabled:
            reducer.expect_gradients_from(outputs)
        return outputs

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients locally; the first backward outside
        reduces everything accumulated."""
        reducer = self.reducer
        if reducer is None:
            yield
            return
        previous, reducer.sync = reducer.sync, False
        try:
            yield
        finally:
            reducer.sync = previous

    @property
    def require_backward_grad_sync(self):
        """PyTorch's flag behind no_sync(): False makes backward passes accumulate gradients
        locally (programs set it per micro-step: ``model.require_backward_grad_sync = last``)."""
        return self.reducer.sync if self.reducer is not None else self._sync_without_reducer

    @require_backward_grad_sync.setter
    def require_backward_grad_sync(self, value):
        if self.reducer is not None:
            self.reducer.sync = bool(value)
        else:
            self._sync_without_reducer = bool(value)  # a world of one: nothing to reduce either way

    def join(self, divide_by_initial_world_size=True, enable=True, throw_on_early_termination=False):
        """A context for uneven inputs: ranks may leave their training loop after different
        numbers of steps; those that are done take part in the others' steps with zero
        gradients until every rank is done (see join.py)."""
        return Join(self, divide_by_initial_world_size, enable, throw_on_early_termination)

    def attach_join(self, join):
        """Called by ``join`` on entry: training forwards ask it which rank leads the step."""
        if self._join is not None:
            raise self.comm.error("DistributedDataParallel.join: already inside a join() of this model")
        self._join = join

    def detach_join(self):
        self._join = None
        self._buffers_diverged = False  # join's end gave every rank the last trainer's buffers

    # -- names without the "module." prefix --------------------------------------------
    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self.module.named_parameters(prefix, recurse, remove_duplicate)

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self.module.named_buffers(prefix, recurse, remove_duplicate)

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        return self.module.state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        keys = list(state_dict.keys())
        if keys and all(k.startswith("module.") for k in keys):
            state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)

    def _log_global_batch(self, inputs):
        self._batch_logged = True
        first = next((x for x in inputs if hasattr(x, "shape") and len(x.shape) > 0), None)
        if first is not None and self.comm.rank == 0:
            batch = first.shape[0]
            _log.info(f"DistributedDataParallel: {self.comm.size} ranks x batch {batch} = global batch "
                      f"{self.comm.size * batch}; gradients are averaged over ranks")
