"""The gradient reducer: averages the gradients of a fixed list of parameters across ranks,
overlapping communication with the rest of backward.

Each parameter has a slot (a view) in the flat buffer of its bucket (see distgrad/world/buckets.py). When
the engine has accumulated a parameter's gradient, its post-accumulate hook writes the
gradient, already divided by the world size, into the slot (no copy at all when ``.grad``
is the slot itself). A bucket whose slots are all written starts its non-blocking
all-reduce at once, strictly in bucket order, so every rank issues the same collectives in
the same order. ``finish()`` fills the slots that got no gradient (zeros, or what ``.grad``
already holds), starts the remaining buckets, waits for all of them and points each
``.grad`` at its slot: the averaged gradients are never copied back. A parameter that no
rank produced a gradient for (unused in forward, or frozen after wrapping) keeps ``.grad``
None, as in PyTorch, so weight decay and momentum leave it alone; one that some ranks
produced is averaged with the others' zeros. Each bucket's flat buffer ends in one extra
element, 1 where this rank left a slot of that bucket empty, summed with the gradients; only
when some rank did (every rank sees the same sums, so all agree) does a small all-reduce of
per-parameter flags tell the two apart, so the common step runs no extra collective.

Aliasing, on purpose: after a step, ``.grad`` is a view of the bucket buffer.
``zero_grad(set_to_none=True)`` drops the view and the next gradient is copied in;
``zero_grad(set_to_none=False)`` zeroes the slot and the engine then accumulates straight
into it. Either way the sum the engine builds is exactly what is reduced, so gradient
accumulation (no_sync, backward_passes_per_step, or simply not zeroing) stays correct. A
reference to an old ``.grad`` sees the next step's values, as with PyTorch's
``gradient_as_bucket_view=True``.
"""
import numpy

from ..autograd import engine
from ..backend import get_array_module, is_gpu_array
from ..profiler.profile import gradient_ready
from ..tensor import Tensor
from ..utils.logging import get_logger
from ..world.buckets import FIRST_BUCKET_CAP_BYTES, assign_buckets
from .compression import Compression, checked_compression, wire_element

_log = get_logger("distgrad.distributed")
# Compressors that keep a positive sum of 0/1 flags positive (float16/bfloat16 rounding does).
_FLAG_SAFE_COMPRESSORS = (Compression.none, Compression.fp16, Compression.bf16)


class _Bucket:
    __slots__ = ("indices", "flat", "pending", "work", "sent", "ctx")

    def __init__(self, indices, flat):
        self.indices, self.flat = indices, flat
        self.pending = len(indices)
        self.work = self.sent = self.ctx = None


class Reducer:
    """Averages ``params``' gradients over ``comm``.

    ``finish_at_backward_end``: finish when backward returns (DDP) rather than when the
    owner calls ``finish()`` (DistributedOptimizer.step). ``passes_per_sync``: gradients of
    that many backward passes are summed locally before one reduction.
    """

    def __init__(self, params, names, comm, bucket_cap_bytes, first_bucket_cap_bytes=FIRST_BUCKET_CAP_BYTES,
                 compression=None, find_unused_parameters=False, finish_at_backward_end=True,
                 passes_per_sync=1, overlap=True, owner="DistributedDataParallel", late_gradient_hint=""):
        self.params, self.names, self.comm = list(params), list(names), comm
        self.scale = 1.0 / comm.size  # each gradient is multiplied by it: the mean over ranks
        self.compression = checked_compression(comm, compression, owner)
        self.find_unused_parameters = find_unused_parameters
        self.finish_at_backward_end = finish_at_backward_end
        self.passes_per_sync = passes_per_sync
        self.overlap = overlap
        self.owner, self.late_gradient_hint = owner, late_gradient_hint
        self.sync = True  # False inside DDP.no_sync(): gradients stay local
        self._caps = (bucket_cap_bytes, first_bucket_cap_bytes)
        self._build_buckets(self._bucket_groups())
        # The order gradients arrive in during the first reduction; the buckets are then
        # rebuilt in that order once (None afterwards, or when nothing would overlap anyway).
        self._arrivals = [] if overlap else None
        self._hooks = []
        self._unused_reported = False
        self._pass = None       # the BackwardPass whose end we wait for
        self._passes = 0        # backward passes since the last reduction
        self._reset()

    # -- setup --------------------------------------------------------------------------
    def _bucket_groups(self, order=None):
        params = self.params
        return assign_buckets([p.array.nbytes for p in params], [(p.array.dtype.str, str(p.device)) for p in params],
                              *self._caps, order=order)

    def _build_buckets(self, groups):
        params = self.params
        self.buckets, self.bucket_of = [], [0] * len(params)
        self.views, self.grads = [None] * len(params), [None] * len(params)
        for b, indices in enumerate(groups):
            first = params[indices[0]].array
            total = sum(int(params[i].array.size) for i in indices)
            flat = _zeros_beside(first, total + 1)  # + the missing-slots flag, see _launch_ready
            offset = 0
            for i in indices:
                array = params[i].array
                view = flat[offset:offset + array.size].reshape(array.shape)
                self.views[i], self.grads[i], self.bucket_of[i] = view, Tensor._wrap(view), b
                offset += array.size
            self.buckets.append(_Bucket(indices, flat))

    def set_divisor(self, n):
        """Reduced gradients are sums divided by ``n`` from now on (the communicator's size
        by default; join() divides by the ranks still training when asked to)."""
        self.scale = 1.0 / n

    def install_hooks(self):
        """Hook every parameter. A parameter that another reducer still hooks (the model
        wrapped twice, or DDP and DistributedOptimizer together) would be reduced twice:
        the older reducer's hooks are removed, with a warning."""
        for other in {getattr(h, "distgrad_reducer", None) for p in self.params for h in p._post_hooks or ()}:
            if other is not None and other is not self:
                _log.warning(f"{self.owner}: parameters already synchronized by an earlier {other.owner} are "
                             f"now synchronized by this one only (the earlier one's hooks are removed, "
                             "so no gradient is reduced twice)")
                other.remove_hooks()
        for i, p in enumerate(self.params):
            hook = (lambda param, i=i: self._on_gradient(i))
            hook.distgrad_reducer = self
            self._hooks.append(p.register_post_accumulate_grad_hook(hook))

    def remove_hooks(self):
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    @property
    def bucket_indices(self):
        """Parameter indices of each bucket, in launch order (for tests and logs)."""
        return [list(b.indices) for b in self.buckets]

    # -- during backward ----------------------------------------------------------------
    def _on_gradient(self, i):
        if self._pass is not engine.current_backward():  # the first gradient of this backward
            self._pass = engine.current_backward()
            engine.on_backward_end(self._end_of_pass)
        if not self.sync or self._passes + 1 < self.passes_per_sync:
            return  # accumulate locally; a later pass reduces the sum
        if not self._open:
            self._begin()
        if self._ready[i]:
            self._late_gradient(i)
            return
        self._absorb(i)
        self._mark_ready(i)

    def _end_of_pass(self):
        self._pass = None
        self._passes += 1
        if self.finish_at_backward_end and self._open:
            self.finish()

    def _begin(self):
        self._open = True
        for i in self._unreachable or ():
            if not self._ready[i]:
                self._absorb(i)
                self._mark_ready(i)

    def _absorb(self, i):
        """Put parameter i's gradient, divided by the world size, into its slot."""
        view, grad = self.views[i], self.params[i].grad
        xp = self.params[i].xp
        if grad is None:
            view.fill(0)
            self._missing.append(i)
        elif grad.array is view:
            xp.multiply(view, self.scale, out=view)
        else:
            xp.multiply(grad.array, self.scale, out=view)

    def _mark_ready(self, i):
        self._ready[i] = 1
        if self._arrivals is not None:
            self._arrivals.append(i)
        bucket = self.buckets[self.bucket_of[i]]
        bucket.pending -= 1
        if self.overlap:
            if bucket.pending == 0:
                gradient_ready(self.bucket_of[i], bucket.flat.nbytes)
                self._launch_ready()
            self._progress()

    def _launch_ready(self):
        """Start every bucket whose turn has come: strictly in order, so all ranks agree."""
        buckets = self.buckets
        while self._next < len(buckets) and buckets[self._next].pending == 0:
            bucket = buckets[self._next]
            bucket.flat[-1] = 1 if any(self.bucket_of[i] == self._next for i in self._missing) else 0
            sent, bucket.ctx = self.compression.compress(bucket.flat)
            bucket.sent = sent
            bucket.work = self.comm.iallreduce(sent, "sum", wire_element(self.compression, bucket.ctx))
            self._next += 1

    def _progress(self):
        """Let MPI move the oldest bucket in flight along (progress happens inside MPI calls)."""
        while self._done < self._next and self.buckets[self._done].work.is_completed():
            self._done += 1

    def _late_gradient(self, i):
        """A gradient for a slot already filled in this step. Only a slot zero-filled for a
        parameter thought unused, whose bucket has not left yet, can still take it."""
        if self.bucket_of[i] < self._next or i not in self._missing:
            raise self.comm.error(
                f"{self.owner}: parameter '{self.names[i]}' received a gradient after its share of "
                f"this step's reduction was already taken. {self.late_gradient_hint}")
        self._missing.remove(i)
        self._absorb(i)

    # -- the end ------------------------------------------------------------------------
    def expect_gradients_from(self, outputs):
        """find_unused_parameters: parameters that ``outputs`` do not depend on are known
        now to get no gradient, so their buckets need not wait for the end of backward."""
        reachable = _leaves_reachable_from(outputs)
        unreachable = [i for i, p in enumerate(self.params) if id(p) not in reachable]
        if self._unreachable is not None:  # several forwards before one backward
            before = set(self._unreachable)
            unreachable = [i for i in unreachable if i in before]
        self._unreachable = unreachable

    def finish(self):
        """Reduce what is still missing, wait for every bucket and set each ``.grad`` to the
        average. Every rank reduces every parameter, whatever its backward did."""
        if not self._open:
            self._begin()
        for i, ready in enumerate(self._ready):
            if not ready:
                self._absorb(i)
                self._ready[i] = 1
                self.buckets[self.bucket_of[i]].pending -= 1
                if self._arrivals is not None:
                    self._arrivals.append(i)
        used = self._reduce_buckets()
        for i, p in enumerate(self.params):
            if used is None or used[i]:
                p.grad = self.grads[i]
        if self._missing:
            self._report_unused()
        if self._arrivals is not None:
            self._rebuild_buckets()
        self._reset()

    def _rebuild_buckets(self):
        """Once, after the first reduction: buckets in the order gradients arrived (rank 0's,
        so every rank agrees), so that the first bucket fills, and leaves, first. PyTorch's
        DDP does the same. This step's averaged gradients move to the new buckets."""
        arrivals, self._arrivals = self._arrivals, None
        order = numpy.array(arrivals, numpy.int64)
        self.comm.broadcast(order, 0)
        groups = self._bucket_groups(order)
        if groups == self.bucket_indices:
            return
        old_views, old_grads = self.views, self.grads
        self._build_buckets(groups)
        for i, p in enumerate(self.params):
            self.views[i][...] = old_views[i]
            if p.grad is old_grads[i]:
                p.grad = self.grads[i]
        _log.debug(f"{self.owner}: buckets rebuilt in the order gradients arrived: {self.bucket_indices}")

    def reduce_zeros(self):
        """Take part in the other ranks' reduction with zero gradients (this rank is out of
        data, DDP.join): the same collectives in the same order as their finish(). ``.grad``
        is not reassigned (one that is a view of a bucket sees the others' average)."""
        for bucket in self.buckets:
            bucket.flat.fill(0)
            bucket.pending = 0
        self._missing = list(range(len(self.params)))
        self._reduce_buckets()
        if self._arrivals is not None:  # the others rebuild after this reduction: join in
            self._arrivals = [i for bucket in self.buckets for i in bucket.indices]
            self._rebuild_buckets()
        self._reset()

    def _reduce_buckets(self):
        """Start the buckets not started yet, wait for all of them; the used flags (a
        0/1 per parameter: whether any rank produced its gradient), None when every rank
        filled every slot. A compressor of the user's own may not carry the buckets'
        missing-slots flags through: then the flags' all-reduce runs every step."""
        self._launch_ready()
        flags_carried = self.compression in _FLAG_SAFE_COMPRESSORS
        used = None if flags_carried else self._start_used_flags()
        missing_counts = []
        for bucket in self.buckets:
            bucket.work.wait()
            if bucket.sent is not bucket.flat:
                bucket.flat[...] = self.compression.decompress(bucket.sent, bucket.ctx)
            bucket.sent = bucket.work = bucket.ctx = None
            missing_counts.append(bucket.flat[-1:])  # a sum of 0/1s: > 0 on every rank alike
        if used is None:
            if not _any_positive(missing_counts):
                return None
            used = self._start_used_flags()
        used[1].wait()
        return used[0]

    def _start_used_flags(self):
        """Which parameters got a gradient on some rank: the others keep ``.grad`` None."""
        flags = numpy.ones(len(self.params), numpy.uint8)
        flags[self._missing] = 0
        return flags, self.comm.iallreduce(flags, "max")

    def _report_unused(self):
        if self._unused_reported:
            return
        self._unused_reported = True
        names = ", ".join(self.names[i] for i in self._missing)
        if self.find_unused_parameters:
            _log.warning(f"{self.owner}: these parameters got no gradient on this rank: {names}. "
                         "Zeros were reduced for them; one that no rank used keeps .grad None. "
                         "(Reported once.)")
        else:
            _log.warning(f"{self.owner}: these parameters got no gradient on this rank: {names}. "
                         "Zeros were reduced for them so no rank waits; one that no rank used keeps "
                         ".grad None. Pass find_unused_parameters=True if this is expected. (Reported once.)")

    def _reset(self):
        self._open = False
        self._ready = bytearray(len(self.params))
        self._missing = []
        self._unreachable = None
        self._next = self._done = 0
        self._passes = 0
        for bucket in self.buckets:
            bucket.pending = len(bucket.indices)


def _zeros_beside(array, size):
    """A zeroed 1-D array of ``size`` elements, same dtype and device as ``array``."""
    if is_gpu_array(array):
        with array.device:
            return get_array_module(array).zeros(size, array.dtype)
    return numpy.zeros(size, array.dtype)


def _leaves_reachable_from(outputs):
    """ids of the leaf tensors requiring grad that ``outputs`` (tensors, possibly nested in
    tuples, lists and dicts) were computed from."""
    leaves, seen, stack = set(), set(), []
    for t in _tensors_in(outputs):
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif t.requires_grad:
            leaves.add(id(t))
    while stack:
        fn = stack.pop()
        if id(fn) in seen or fn.inputs is None:
            continue
        seen.add(id(fn))
        # The edges as recorded: an in-place op since may have given an input a new grad_fn.
        for t, needed, child in zip(fn.inputs, fn.needs_grad, fn.edges):
            if child is not None:
                stack.append(child)
            elif needed:
                leaves.add(id(t))
    return leaves


def _tensors_in(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors_in(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors_in(item)


def _any_positive(counts):
    """Whether any of these one-element arrays is > 0, read back at once: on a GPU each
    read is a device synchronization, so one a step rather than one a bucket."""
    if not counts:
        return False
    xp = get_array_module(counts[0])
    return bool((xp.concatenate(counts) > 0).any()) if len(counts) > 1 else bool(counts[0][0] > 0)
