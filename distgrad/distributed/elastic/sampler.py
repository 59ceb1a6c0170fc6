"""ElasticSampler: a DistributedSampler whose place in the epoch survives a change of world size.

Rank r takes every W-th index of the epoch's order, so when every rank has trained on its
first k batches of b samples, the samples done are exactly the first k*b*W of that order.
So one number, ``processed``, records the epoch's progress whatever the world size; after a
restart on another number of ranks, only the rest of the order is shared out again, and each
sample of the epoch is used once (as in DistributedSampler, the last batch may be padded by
repeating samples when the rest does not divide evenly; ``drop_last`` drops them instead).

    sampler = ElasticSampler(dataset, seed=0)
    for batch_idx, batch in enumerate(loader):
        ...
        sampler.record_batch(batch_idx, batch_size)   # Horovod's call, after the step

By default each rank keeps its batch, so the global batch shrinks with the world. With
``keep_global_batch=True`` the sampler remembers the world size the job started on, and
``micro_batches_per_step()`` says how many batches each rank accumulates per optimizer step
(DDP's ``no_sync`` for all but the last, see ``elastic.micro_steps``) to make up the lost
ranks' share: start / now, exact when the world shrank by a whole factor (4 -> 2, 2 -> 1),
rounded up otherwise (3 -> 2: 2 per step, a global batch 4/3 of the first). A step still
counts once, so the step counter and the learning-rate schedule go on as before.
"""
from ...data.distributed import DistributedSampler


class ElasticSampler(DistributedSampler):
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False,
                 keep_global_batch=False):
        super().__init__(dataset, num_replicas, rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.keep_global_batch = bool(keep_global_batch)
        self.start_replicas = self.num_replicas  # the job's first world size (restored after a restart)
        self.processed = 0     # samples of this epoch's order trained on, by all ranks together
        self._pass_start = 0   # ``processed`` when the current pass began
        self._rank_done = 0    # this rank's samples recorded in the current pass

    def indices(self):
        """This rank's share of the samples of the epoch not processed yet."""
        return self._shard(self.epoch_order()[self.processed:])

    def __iter__(self):
        self._pass_start, self._rank_done = self.processed, 0
        yield from self.indices().tolist()

    def __len__(self):
        return self._share_sizes(len(self.dataset) - self.processed)[0]

    def micro_batches_per_step(self):
        """Batches each rank accumulates per optimizer step: 1, or with ``keep_global_batch``
        enough to make up the share of the ranks lost since the job started."""
        if not self.keep_global_batch:
            return 1
        return max(1, -(-self.start_replicas // self.num_replicas))

    def record_batch(self, batch_idx, batch_size):
        """After the step on batch ``batch_idx`` of this pass, of ``batch_size`` samples on this
        rank (every rank's batch of that index has as many: their shares are equal)."""
        self._rank_done += batch_size
        done = self._pass_start + self._rank_done * self.num_replicas
        self.set_processed(min(done, len(self.dataset)))

    def set_processed(self, count):
        """Record that the first ``count`` samples of the epoch's order are done."""
        if not 0 <= count <= len(self.dataset):
            raise ValueError(f"ElasticSampler: processed count {count} is outside [0, {len(self.dataset)}]")
        self.processed = int(count)

    def set_epoch(self, epoch):
        """A new epoch starts from its first sample; the same epoch keeps its progress (a restart)."""
        if int(epoch) != self.epoch:
            self.processed = self._pass_start = self._rank_done = 0
        self.epoch = int(epoch)

    def state_dict(self):
        # No world size: the progress carries over to any number of ranks.
        return {"epoch": self.epoch, "processed": self.processed, "seed": self.seed,
                "shuffle": self.shuffle, "drop_last": self.drop_last, "dataset_size": len(self.dataset),
                "start_replicas": self.start_replicas}

    def load_state_dict(self, state):
        for key, mine in (("seed", self.seed), ("shuffle", self.shuffle), ("drop_last", self.drop_last),
                          ("dataset_size", len(self.dataset))):
            if key in state and state[key] != mine:
                raise ValueError(f"ElasticSampler: the saved state has {key}={state[key]!r} but this sampler "
                                 f"has {key}={mine!r}; the epoch's progress only carries over to the same data "
                                 "and order")
        self.epoch = int(state["epoch"])
        self.start_replicas = int(state.get("start_replicas", self.start_replicas))
        self.set_processed(int(state["processed"]))
        self._pass_start, self._rank_done = self.processed, 0
