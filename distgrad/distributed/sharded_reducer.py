"""ZeRO stage 2: the gradient reducer that leaves each rank only its own parameters' averaged
gradients.

    model = DistributedDataParallel(net, gradient_as_shards=True)
    opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=optim.Adam, lr=1e-3)

Every parameter has an owner rank, the one whose ZeroRedundancyOptimizer updates it (the
optimizer hands its assignment over when it is built). Inside each bucket the slots are laid
out owner by owner, one segment per rank, and the bucket is reduce-scattered as one rooted
reduce per segment, each to its owner, started as soon as the bucket is full and overlapped
with the rest of backward like DDP's all-reduce. After backward a rank's owned parameters'
``.grad`` are views of its own segments, the only gradient buffers it keeps between steps
(about 1/N of DDP's); another rank's segment is allocated when its first gradient of the
step arrives and freed as soon as that bucket's reduction completes (so smaller buckets lower
the peak), and every other parameter's ``.grad`` is None (the engine's array is dropped as
soon as it is copied to its owner's slot). The optimizer then
updates its parameters and broadcasts them, so a step sends what DDP's all-reduce sends
(reduce-scatter + all-gather), and the parameters follow DDP's within float32 rounding.

Not supported here: compression and ``join()``. Anything that reads every parameter's
gradient sees only this rank's share: clip with ``ZeroRedundancyOptimizer.clip_grad_norm_``,
not ``nn.utils.clip_grad_norm_`` over the model.
"""
from ..tensor import Tensor
from .compression import Compression
from .reducer import Reducer, _Bucket, _zeros_beside

NO_OWNER_HINT = ("build ZeroRedundancyOptimizer(model.parameters(), ...) after DistributedDataParallel and "
                 "before the first backward: it tells each rank which parameters' gradients to keep")


class _ShardedBucket(_Bucket):
    __slots__ = ("segments", "owners", "nbytes")

    def __init__(self, indices, owners, nbytes):
        self.indices, self.pending = indices, len(indices)
        self.work = self.sent = self.ctx = None
        self.owners = owners            # owners[k]: the rank owning indices[k]
        self.segments = []              # segments[r]: rank r's slots, reduced to rank r
        self.nbytes = nbytes

    @property
    def flat(self):
        """No flat buffer: the segments are separate arrays. What reads ``flat`` for its
        size (the profiler's bucket spans) gets the bucket's bytes."""
        return self


class _AllOf:
    """Work-like handle of several collectives: done when all of them are."""
    __slots__ = ("works",)

    def __init__(self, works):
        self.works = works

    def is_completed(self):
        return all(w.is_completed() for w in self.works)

    def wait(self):
        for w in self.works:
            w.wait()


class ShardedReducer(Reducer):
    """A Reducer whose buckets are reduce-scattered to their parameters' owners."""

    def __init__(self, params, names, comm, bucket_cap_bytes, compression=None, **options):
        if compression not in (None, Compression.none):
            raise comm.error("DistributedDataParallel: gradient_as_shards=True sends gradients uncompressed; "
                             "pass compression=None", NotImplementedError)
        self.owner_of = None  # owner_of[i]: the rank that keeps parameter i's gradient
        super().__init__(params, names, comm, bucket_cap_bytes, **options)

    def set_owners(self, owner_by_id):
        """``{id(parameter): rank}``; a parameter missing from it has no owner yet (a later
        param group may bring it), and backward refuses to start until every one has."""
        if self._open:
            raise self.comm.error(f"{self.owner}: gradient owners cannot change in the middle of a backward")
        self.owner_of = [owner_by_id.get(id(p)) for p in self.params]
        self._build_buckets(self.bucket_indices)

    def _owners_known(self):
        return self.owner_of is not None and None not in self.owner_of

    # -- layout: one segment per owner inside each bucket ------------------------------
    def _build_buckets(self, groups):
        if not self._owners_known():  # until an optimizer says who owns what: DDP's layout
            return super()._build_buckets(groups)
        self.buckets, self.bucket_of = [], [0] * len(self.params)
        self.views, self.grads = [None] * len(self.params), [None] * len(self.params)
        for b, indices in enumerate(groups):
            indices = sorted(indices, key=lambda i: self.owner_of[i])  # stable: the given order within an owner
            nbytes = sum(int(self.params[i].array.nbytes) for i in indices)
            bucket = _ShardedBucket(indices, [self.owner_of[i] for i in indices], nbytes)
            bucket.segments = [None] * self.comm.size
            for i in indices:
                self.bucket_of[i] = b
            self.buckets.append(bucket)
            for rank in range(self.comm.size):
                self._allocate(bucket, rank)

    def _allocate(self, bucket, rank):
        """Rank ``rank``'s segment of ``bucket``, zeroed, and the slots of its parameters."""
        indices = [i for i, r in zip(bucket.indices, bucket.owners) if r == rank]
        size = sum(int(self.params[i].array.size) for i in indices)
        bucket.segments[rank] = segment = _zeros_beside(self.params[bucket.indices[0]].array, size)
        offset = 0
        for i in indices:
            array = self.params[i].array
            self.views[i] = view = segment[offset:offset + array.size].reshape(array.shape)
            self.grads[i] = Tensor._wrap(view)
            offset += array.size

    def _free_others(self, bucket):
        """Drop the other ranks' segments of ``bucket`` and their slots: this rank keeps its own."""
        for rank in range(self.comm.size):
            if rank != self.comm.rank:
                bucket.segments[rank] = None
        for i, rank in zip(bucket.indices, bucket.owners):
            if rank != self.comm.rank:
                self.views[i] = self.grads[i] = None

    def _reduced(self, bucket):
        """``bucket``'s reduction is done: the others' segments go now, except in the first
        step, whose end moves every slot to the rebuilt buckets."""
        if self._arrivals is None:
            self._free_others(bucket)

    # -- a step ------------------------------------------------------------------------
    def _begin(self):
        if not self._owners_known():
            orphans = [name for k, name in enumerate(self.names) if self.owner_of is None or self.owner_of[k] is None]
            raise self.comm.error(f"{self.owner}(gradient_as_shards=True): no ZeroRedundancyOptimizer holds these "
                                  f"trained parameters, so no rank would keep their gradients: "
                                  f"{', '.join(orphans)}; {NO_OWNER_HINT}")
        super()._begin()

    def _absorb(self, i):
        bucket, rank = self.buckets[self.bucket_of[i]], self.owner_of[i]
        if bucket.segments[rank] is None:  # the first of its owner's gradients in this bucket this step
            self._allocate(bucket, rank)
        super()._absorb(i)
        if self.owner_of[i] != self.comm.rank:
            self.params[i].grad = None  # copied to its owner's slot: the engine's array can go now

    def _launch_ready(self):
        """Start every full bucket, in order: one reduce per owner's segment, to that owner."""
        buckets = self.buckets
        while self._next < len(buckets) and buckets[self._next].pending == 0:
            bucket = buckets[self._next]
            # Every slot of a full bucket is written, so a segment is None only where its owner has
            # no parameter in this bucket: the same on every rank.
            bucket.work = _AllOf([self.comm.ireduce(segment, root=rank) for rank, segment
                                  in enumerate(bucket.segments) if segment is not None and segment.size])
            self._next += 1

    def _progress(self):
        while self._done < self._next and self.buckets[self._done].work.is_completed():
            self._reduced(self.buckets[self._done])
            self._done += 1

    def _reduce_buckets(self):
        self._launch_ready()
        used = self._start_used_flags()
        for bucket in self.buckets:
            bucket.work.wait()
            bucket.work = None
            self._reduced(bucket)
        used[1].wait()
        return used[0]

    def finish(self):
        super().finish()
        for bucket in self.buckets:
            self._free_others(bucket)
        for i, p in enumerate(self.params):
            if self.owner_of[i] != self.comm.rank:
                p.grad = None

    def reduce_zeros(self):
        raise self.comm.error(f"{self.owner}: join() with gradient_as_shards=True is not supported",
                              NotImplementedError)

    @property
    def gradient_bytes(self):
        """Bytes of gradient buffers this reducer holds now (between steps: this rank's share)."""
        return sum(int(s.nbytes) for b in self.buckets for s in b.segments if s is not None)


def sharded_reducer_of(params):
    """The ShardedReducer hooked on any of ``params``, or None."""
    for p in params:
        for hook in p._post_hooks or ():
            reducer = getattr(hook, "distgrad_reducer", None)
            if isinstance(reducer, ShardedReducer):
                return reducer
    return None
