"""ElasticSampler: the epoch's progress survives a change of world size, and each sample of
an epoch is used exactly once across the change."""
from collections import Counter

import numpy as np
import pytest

from distgrad.data import DistributedSampler
from distgrad.distributed.elastic import ElasticSampler


def samplers(dataset, world, state=None, **kwargs):
    group = [ElasticSampler(dataset, num_replicas=world, rank=r, seed=3, **kwargs) for r in range(world)]
    for s in group:
        s.set_epoch(2)
        if state is not None:
            s.load_state_dict(state)
    return group


def train(group, batch, batches=None):
    """Each rank takes ``batches`` batches (None: its whole share, the last batch maybe
    smaller); returns the samples used."""
    used = []
    iters = [iter(s) for s in group]
    steps = -(-len(group[0]) // batch) if batches is None else batches
    for i in range(steps):
        for s, it in zip(group, iters):
            taken = [index for _, index in zip(range(batch), it)]
            used += taken
            s.record_batch(i, len(taken))
    return used


@pytest.mark.parametrize("size, worlds", [(96, (2, 4)), (96, (4, 1)), (96, (3, 2, 1)), (100, (2, 4)), (90, (1, 2))])
def test_each_sample_of_an_epoch_is_used_once_across_world_size_changes(size, worlds):
    dataset, batch = list(range(size)), 4
    used, state = [], None
    for n, world in enumerate(worlds):
        group = samplers(dataset, world, state)
        last = n == len(worlds) - 1
        used += train(group, batch, None if last else 2)
        state = group[0].state_dict()
        assert all(s.state_dict() == state for s in group)  # the progress is the same on every rank
    assert Counter(used) == Counter(dataset)
    assert state["processed"] == len(dataset)


def test_at_the_start_it_shares_out_as_distributed_sampler_and_len_counts_the_rest():
    dataset = list(range(50))
    for rank in range(3):
        plain = DistributedSampler(dataset, num_replicas=3, rank=rank, seed=3)
        elastic = ElasticSampler(dataset, num_replicas=3, rank=rank, seed=3)
        plain.set_epoch(1)
        elastic.set_epoch(1)
        assert list(elastic) == list(plain) and len(elastic) == len(plain) == 17
    elastic.set_processed(30)
    assert len(elastic) == 7  # 20 left over 3 ranks, padded
    assert set(np.concatenate([ElasticSampler(dataset, 3, r, seed=3).indices() for r in range(3)])) == set(range(50))


def test_a_new_epoch_starts_from_its_first_sample_and_the_same_epoch_keeps_its_progress():
    s = ElasticSampler(list(range(20)), num_replicas=2, rank=0)
    s.set_epoch(1)
    s.set_processed(8)
    s.set_epoch(1)
    assert s.processed == 8
    s.set_epoch(2)
    assert s.processed == 0


def test_a_state_of_other_data_is_refused():
    s = ElasticSampler(list(range(20)), num_replicas=2, rank=0, seed=1)
    with pytest.raises(ValueError, match="seed=2 but this sampler has seed=1"):
        s.load_state_dict(dict(s.state_dict(), seed=2))
    with pytest.raises(ValueError, match="dataset_size=30"):
        s.load_state_dict(dict(s.state_dict(), dataset_size=30))
    with pytest.raises(ValueError, match="processed count 21 is outside"):
        s.set_processed(21)
