"""Uneven inputs: ``with ddp_model.join(): for batch in my_shard: ...`` lets ranks run out of
data at different times without hanging the others (PyTorch DDP's ``join``).

Every training forward inside the context starts with one small all-reduce in which each
rank says whether it is still training and whether this step reduces gradients. A rank that
has left its loop stays in ``__exit__`` answering "not training" and shadows the steps of
the others: the same buffer broadcast and the same bucket all-reduces, with zero gradients,
so every rank issues the same collectives in the same order. When no rank is training any
more, the model of the rank that trained last is broadcast to all, so replicas leave the
context identical (ranks that stopped early did not take the last steps).

Gradients are summed over the ranks still training and divided by the world size
(``divide_by_initial_world_size=True``, PyTorch's default) or by the number of ranks still
training. One training forward per backward inside the context: every forward is a step.
Optimizer state stays each rank's own: a rank that stopped early keeps the momentum of its
last step (``dist.broadcast_optimizer_state(optimizer, src)`` aligns it).
"""
import numpy

from ..world.coalesced import broadcast_arrays


class Join:
    def __init__(self, ddp, divide_by_initial_world_size=True, enable=True, throw_on_early_termination=False):
        self.ddp, self.comm = ddp, ddp.comm
        self.divide_by_initial_world_size = divide_by_initial_world_size
        self.enabled = enable and ddp.reducer is not None  # a world of one has nothing to join
        self.throw = throw_on_early_termination
        self.source = 0  # the rank whose buffers (and, at the end, model) the others take

    # -- the context --------------------------------------------------------------------
    def __enter__(self):
        if not self.enabled:
            return self
        self.ddp.attach_join(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.enabled:
            return False
        try:
            if exc_type is None:  # an exception ends the job through the failure hook instead
                self._shadow_until_all_done()
        finally:
            self.ddp.detach_join()
            self.ddp.reducer.set_divisor(self.comm.size)
        return False

    # -- a step of a rank that still trains ---------------------------------------------
    def step_begins(self):
        """Called by the training forward: agree on who trains; returns the rank whose
        buffers this step broadcasts."""
        reducer = self.ddp.reducer
        training, syncing = self._exchange(training=True, syncing=reducer.sync)
        if self.throw and len(training) < self.comm.size:
            raise self._early_termination(training)
        if syncing and len(syncing) != len(training):
            stale = sorted(set(training) - set(syncing))
            raise self.comm.error(f"DistributedDataParallel.join: ranks {stale} are inside no_sync() while ranks "
                                  f"{syncing} reduce gradients in the same step")
        if not self.divide_by_initial_world_size:
            reducer.set_divisor(len(training))
        return self.source

    # -- a rank out of data -------------------------------------------------------------
    def _shadow_until_all_done(self):
        ddp = self.ddp
        while True:
            training, syncing = self._exchange(training=False, syncing=False)
            if not training:
                break
            if self.throw:
                raise self._early_termination(training)
            if ddp.synced_buffers:
                broadcast_arrays(self.comm, [b.array for b in ddp.synced_buffers], root=self.source)
            if syncing:
                ddp.reducer.reduce_zeros()
        # The rank that trained last holds the model every rank keeps.
        arrays = [p.array for _, p in ddp.module.named_parameters()]
        broadcast_arrays(self.comm, arrays + [b.array for _, b in ddp.module.named_buffers()], root=self.source)

    # -- helpers ------------------------------------------------------------------------
    def _exchange(self, training, syncing):
        """One all-reduce: (ranks still training, ranks whose step reduces gradients)."""
        size, rank = self.comm.size, self.comm.rank
        flags = numpy.zeros(2 * size, numpy.uint8)
        flags[rank], flags[size + rank] = training, training and syncing
        self.comm.allreduce(flags, "sum")
        training_ranks = [int(r) for r in numpy.flatnonzero(flags[:size])]
        if training_ranks:
            self.source = training_ranks[0]
        return training_ranks, [int(r) for r in numpy.flatnonzero(flags[size:])]

    def _early_termination(self, training):
        done = sorted(set(range(self.comm.size)) - set(training))
        return self.comm.error(f"DistributedDataParallel.join: ranks {done} ran out of inputs while ranks "
                               f"{training} still train (throw_on_early_termination=True)")
