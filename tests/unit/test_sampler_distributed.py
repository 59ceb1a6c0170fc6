"""DistributedSampler: equal shares, coverage, (seed, epoch) permutations, resuming."""
import pytest

from distgrad.data import DataLoader, TensorDataset
from distgrad.data.distributed import DistributedSampler
import distgrad


def shares(n, replicas, **kw):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n,replicas", [(10, 3), (10, 2), (7, 4), (2, 5), (12, 4)])
def test_equal_shares_that_cover_the_dataset(n, replicas):
    parts = shares(n, replicas)
    sizes = {len(p) for p in parts}
    assert sizes == {-(-n // replicas)}  # every rank the same count, padding included
    assert set().union(*parts) == set(range(n))
    assert sum(map(len, parts)) - n < replicas  # padding is less than one sample per rank
    dropped = shares(n, replicas, drop_last=True)
    assert {len(p) for p in dropped} == {n // replicas}
    flat = [i for p in dropped for i in p]
    assert len(flat) == len(set(flat))  # drop_last never repeats a sample


def test_padding_repeats_from_the_start_without_shuffle():
    parts = shares(10, 4, shuffle=False)
    assert parts == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]


def test_permutation_depends_only_on_seed_and_epoch():
    a = DistributedSampler(range(100), num_replicas=2, rank=0, seed=5)
    b = DistributedSampler(range(100), num_replicas=2, rank=0, seed=5)
    distgrad.manual_seed(123)  # the global generator plays no part
    first = list(a)
    assert first == list(b) and first == list(a)  # same epoch, same order
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    other_seed = DistributedSampler(range(100), num_replicas=2, rank=0, seed=6)
    assert list(other_seed) != first
    # (seed 5, epoch 1) and (seed 6, epoch 0) are different streams, unlike seed + epoch
    assert list(other_seed) != list(a)


def test_ranks_of_one_epoch_are_disjoint_when_shuffled():
    parts = shares(40, 4, seed=3)
    flat = [i for p in parts for i in p]
    assert sorted(flat) == list(range(40))


def test_defaults_to_a_world_of_one_without_distributed():
    s = DistributedSampler(range(9))
    assert (s.num_replicas, s.rank) == (1, 0) and sorted(s) == list(range(9))


def test_invalid_rank():
    with pytest.raises(ValueError, match=r"rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)


def test_resume_mid_epoch_from_state_dict():
    sampler = DistributedSampler(range(50), num_replicas=2, rank=1, seed=9)
    sampler.set_epoch(3)
    loader = DataLoader(TensorDataset(distgrad.arange(50)), batch_size=5, sampler=sampler)
    full = [b[0].tolist() for b in loader]
    assert len(full) == 5
    seen = []
    for i, (batch,) in enumerate(loader):
        seen.append(batch.tolist())
        if i == 1:
            state = sampler.state_dict()
            break
    assert state["epoch"] == 3 and state["position"] == 10

    resumed = DistributedSampler(range(50), num_replicas=2, rank=1, seed=9)
    resumed.load_state_dict(state)
    resumed.set_epoch(3)  # the usual loop calls this again; the position is kept
    loader2 = DataLoader(TensorDataset(distgrad.arange(50)), batch_size=5, sampler=resumed)
    assert len(loader2) == 3
    rest = [b[0].tolist() for b in loader2]
    assert seen + rest == full
    assert len(resumed) == 25  # after a finished pass the next one is whole again
    resumed.set_epoch(4)
    assert len(list(resumed)) == 25
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(50), num_replicas=3, rank=0, seed=9).load_state_dict(state)


def test_same_shares_as_pytorch_without_shuffle():
    torch = pytest.importorskip("torch")
    for n, replicas, drop in [(10, 3, False), (10, 3, True), (5, 4, False)]:
        ours = shares(n, replicas, shuffle=False, drop_last=drop)
        theirs = [list(torch.utils.data.DistributedSampler(range(n), num_replicas=replicas, rank=r,
                                                            shuffle=False, drop_last=drop))
                  for r in range(replicas)]
        assert ours == theirs
