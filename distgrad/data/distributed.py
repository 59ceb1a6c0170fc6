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
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self._start = 0      # where the next pass begins, in this rank's samples
        self._position = 0   # this rank's samples of the current epoch handed out so far

    def indices(self):
        """This rank's full share for the current epoch (ignoring any start index)."""
        n = len(self.dataset)
        if self.shuffle:
            order = numpy.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            order = numpy.arange(n)
        if self.total_size > n:  # pad by repeating the start, as often as needed
            order = numpy.concatenate([order, numpy.resize(order, self.total_size - n)])
        order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas]

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
