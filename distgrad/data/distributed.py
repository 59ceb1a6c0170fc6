"""DistributedSampler: each rank's share of a dataset for data-parallel training.

Every rank draws the same permutation (it depends only on ``seed`` and the epoch), pads it
by repeating its start (or drops the tail with ``drop_last``) so that it divides evenly,
and takes every ``num_replicas``-th index starting at its rank. So all ranks get the same
number of samples, hence the same number of batches (no rank waits for a batch that never
comes), and together they cover the dataset.

For resuming in the middle of an epoch, ``state_dict()`` records the epoch and how many of
this rank's samples were handed out; ``load_state_dict`` (or ``set_start_index``) makes the
next pass start there.
"""
import math

import numpy

from ..world.groups import get_rank, get_world_size
from ..world.state import init, is_initialized, launched_world_size


def _default_world():
    """(world size, rank) of the distributed world. A process launched as one of several ranks
    joins the world here (as init() would) rather than give every rank the whole dataset;
    init raises, saying how to launch, when that world cannot be reached. Otherwise a world
    of one."""
    if not is_initialized():
        if launched_world_size() <= 1:
            return 1, 0
        init("auto")
    return get_world_size(), get_rank()


class DistributedSampler:
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            world, my_rank = _default_world()
            num_replicas = world if num_replicas is None else num_replicas
            rank = my_rank if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got {num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        self.num_samples, self.total_size = self._share_sizes(len(dataset))
        self._start = 0      # where the next pass begins, in this rank's samples
        self._position = 0   # this rank's samples of the current epoch handed out so far

    def _share_sizes(self, n):
        """(samples per rank, samples over all ranks) when ``n`` samples are shared out."""
        if self.drop_last and n % self.num_replicas:
            per_rank = n // self.num_replicas
        else:
            per_rank = math.ceil(n / self.num_replicas)
        return per_rank, per_rank * self.num_replicas

    def epoch_order(self):
        """The whole dataset's order in the current epoch, the same on every rank."""
        n = len(self.dataset)
        if self.shuffle:
            return numpy.random.default_rng([self.seed, self.epoch]).permutation(n)
        return numpy.arange(n)

    def _shard(self, order):
        """This rank's every ``num_replicas``-th index of ``order``, padded or cut to an even share."""
        total_size = self._share_sizes(len(order))[1]
        if total_size > len(order):  # pad by repeating the start, as often as needed
            order = numpy.concatenate([order, numpy.resize(order, total_size - len(order))])
        return order[self.rank:total_size:self.num_replicas]

    def indices(self):
        """This rank's full share for the current epoch (ignoring any start index)."""
        return self._shard(self.epoch_order())

    def __iter__(self):
        start = self._start
        share = self.indices()[start:].tolist()
        self._position = start
        for index in share:
            self._position += 1
            yield index
        self._start = 0  # a finished pass: the next one (same epoch) is a whole pass again

    def __len__(self):
        return self.num_samples - self._start

    def set_epoch(self, epoch):
        """Use the permutation of ``epoch`` from now on (call it before every epoch). A start
        index from a resumed checkpoint is kept only when the epoch stays the same."""
        epoch = int(epoch)
        if epoch != self.epoch:
            self._start = 0
            self._position = 0
        self.epoch = epoch

    def set_start_index(self, index):
        """Begin the next pass at this rank's ``index``-th sample of the epoch."""
        if not 0 <= index <= self.num_samples:
            raise ValueError(f"DistributedSampler: start index {index} is outside [0, {self.num_samples}]")
        self._start = self._position = int(index)

    def state_dict(self):
        return {"epoch": self.epoch, "position": self._position, "seed": self.seed,
                "num_replicas": self.num_replicas, "shuffle": self.shuffle, "drop_last": self.drop_last}

    def load_state_dict(self, state):
        for key in ("seed", "num_replicas", "shuffle", "drop_last"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(f"DistributedSampler (rank {self.rank}): the saved state has {key}="
                                 f"{state[key]!r} but this sampler has {key}={getattr(self, key)!r}; "
                                 "a mid-epoch position only carries over to the same setup")
        self.epoch = int(state["epoch"])
        self.set_start_index(int(state["position"]))
