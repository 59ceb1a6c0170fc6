"""Datasets, collation, samplers and the DataLoader (distgrad.data)."""
import collections

import numpy as np
import pytest

import distgrad
from distgrad.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset,
                           RandomSampler, SequentialSampler, Subset, TensorDataset, default_collate,
                           random_split)


class Squares(Dataset):
    """A per-sample dataset (no get_batch): sample i is (i*i as float, i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return float(i * i), i


class CountingTensorDataset(TensorDataset):
    """Records how it is read, to check that the DataLoader takes the whole-batch route."""

    def __init__(self, *tensors):
        super().__init__(*tensors)
        self.getitem_calls = self.batch_calls = 0

    def __getitem__(self, index):
        self.getitem_calls += 1
        return super().__getitem__(index)

    def get_batch(self, indices):
        self.batch_calls += 1
        return super().get_batch(indices)


def xy(n=10):
    x = distgrad.arange(n * 3, dtype=distgrad.float32).reshape(n, 3)
    return x, distgrad.arange(n)


# ------------------------------------------------------------------ datasets
def test_tensor_dataset_items_and_length():
    x, y = xy()
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[4]
    assert xi.tolist() == [12.0, 13.0, 14.0] and yi.item() == 4


def test_tensor_dataset_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="same size in the first dimension"):
        TensorDataset(distgrad.zeros(3, 2), distgrad.zeros(4))


def test_subset_concat_and_random_split():
    ds = Squares(10)
    sub = Subset(ds, [9, 0, 3])
    assert len(sub) == 3 and sub[0] == (81.0, 9) and sub[2] == (9.0, 3)
    cat = ConcatDataset([Squares(3), Squares(2)])
    assert len(cat) == 5 and [cat[i][1] for i in range(5)] == [0, 1, 2, 0, 1] and cat[-1][1] == 1
    with pytest.raises(IndexError):
        cat[5]
    assert len(Squares(2) + Squares(4)) == 6

    g = distgrad.Generator().manual_seed(3)
    a, b = random_split(ds, [7, 3], generator=g)
    assert sorted(a.indices + b.indices) == list(range(10)) and len(a) == 7
    again = random_split(ds, [7, 3], generator=distgrad.Generator().manual_seed(3))
    assert again[0].indices == a.indices
    parts = random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ds, [4, 5])


# ------------------------------------------------------------------ collate
def test_default_collate_types_and_structure():
    batch = default_collate([(1.5, 2, True, np.array([1, 2], np.int16), "a"),
                             (2.5, 3, False, np.array([3, 4], np.int16), "b")])
    floats, ints, bools, arrays, strings = batch
    assert floats.dtype == np.float32 and ints.dtype == np.int64 and bools.dtype == np.bool_
    assert arrays.dtype == np.int16 and arrays.shape == (2, 2) and strings == ("a", "b")  # a tuple, as PyTorch
    d = default_collate([{"x": distgrad.ones(2), "y": 1}, {"x": distgrad.zeros(2), "y": 0}])
    assert d["x"].shape == (2, 2) and d["y"].tolist() == [1, 0]
    Pair = collections.namedtuple("Pair", "a b")
    p = default_collate([Pair(1, 2.0), Pair(3, 4.0)])
    assert isinstance(p, Pair) and p.a.tolist() == [1, 3]
    assert default_collate([np.float64(1.0), np.float64(2.0)]).dtype == np.float64
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])


# ------------------------------------------------------------------ samplers
def test_sequential_random_and_batch_samplers():
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    g = distgrad.Generator().manual_seed(0)
    rs = RandomSampler(range(20), generator=g)
    first, second = list(rs), list(rs)
    assert sorted(first) == list(range(20)) and first != second  # a new order each pass
    assert len(list(RandomSampler(range(5), num_samples=12))) == 12
    draws = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(draws) == 50 and set(draws) <= {0, 1, 2}
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError, match="positive integer"):
        BatchSampler(range(7), 0, False)
    for drop_last in (False, True):  # whole-pass slicing gives what index-by-index collecting gives
        sliced = list(BatchSampler(SequentialSampler(range(7)), 3, drop_last))
        assert sliced == list(BatchSampler(iter(range(7)), 3, drop_last))
        assert all(type(i) is int for batch in sliced for i in batch)
    shuffled = list(BatchSampler(RandomSampler(range(10), generator=distgrad.Generator().manual_seed(2)), 4, False))
    assert [len(b) for b in shuffled] == [4, 4, 2] and sorted(sum(shuffled, [])) == list(range(10))


# ------------------------------------------------------------------ DataLoader
def test_loader_batches_in_order_with_fast_path():
    x, y = xy(10)
    ds = CountingTensorDataset(x, y)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 3) and batches[0][0].dtype == np.float32
    assert ds.batch_calls == 3 and ds.getitem_calls == 0  # one gather per batch, no per-sample reads
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [b[1].tolist() for b in DataLoader(ds, batch_size=4, drop_last=True)][-1] == [4, 5, 6, 7]


def test_loader_per_sample_dataset_and_custom_collate():
    loader = DataLoader(Squares(5), batch_size=2)
    values, index = next(iter(loader))
    assert values.dtype == np.float32 and values.tolist() == [0.0, 1.0] and index.dtype == np.int64
    ds = CountingTensorDataset(*xy(6))
    sums = list(DataLoader(ds, batch_size=3, collate_fn=lambda samples: sum(int(s[1]) for s in samples)))
    assert sums == [3, 12] and ds.getitem_calls == 6  # a custom collate_fn gets the samples


def test_shuffle_is_a_new_permutation_each_epoch_and_reproducible():
    ds = TensorDataset(*xy(50))

    def epochs():
        loader = DataLoader(ds, batch_size=8, shuffle=True)
        return [np.concatenate([b[1].numpy() for b in loader]).tolist() for _ in range(2)]

    distgrad.manual_seed(7)
    first = epochs()
    distgrad.manual_seed(7)
    assert epochs() == first
    assert sorted(first[0]) == list(range(50)) and first[0] != first[1] and first[0] != list(range(50))
    g = distgrad.Generator().manual_seed(1)
    order = [b[1].tolist() for b in DataLoader(ds, batch_size=50, shuffle=True, generator=g)]
    g2 = distgrad.Generator().manual_seed(1)
    assert order == [b[1].tolist() for b in DataLoader(ds, batch_size=50, shuffle=True, generator=g2)]


def test_subset_of_tensor_dataset_uses_fast_path():
    ds = CountingTensorDataset(*xy(10))
    sub = Subset(ds, [8, 6, 4, 2, 0])
    assert [b[1].tolist() for b in DataLoader(sub, batch_size=2)] == [[8, 6], [4, 2], [0]]
    assert ds.getitem_calls == 0 and ds.batch_calls == 3


def test_loader_options_and_errors():
    ds = TensorDataset(*xy(6))
    loader = DataLoader(ds, batch_size=2, num_workers=4, pin_memory=True, device="cpu")
    assert all(str(b[0].device) == "cpu" for b in loader)
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 6 and single[2][1].item() == 2
    bs = DataLoader(ds, batch_sampler=[[5, 0], [1]])
    assert [b[1].tolist() for b in bs] == [[5, 0], [1]] and len(bs) == 2
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    loader = DataLoader(ds, sampler=[3, 1], batch_size=2)
    assert next(iter(loader))[1].tolist() == [3, 1]


def test_iterable_dataset():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(Stream(), batch_size=3, drop_last=True)) == 2
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(), shuffle=True)


def test_pytorch_import_path():
    from distgrad.utils.data import DataLoader as DL, TensorDataset as TD, DistributedSampler
    assert DL is DataLoader and TD is TensorDataset
    from distgrad.data import DistributedSampler as DS
    assert DS is DistributedSampler


def test_matches_pytorch_sequential_batches():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((11, 3)).astype(np.float32)
    y = np.arange(11)
    ours = [(a.numpy(), b.numpy()) for a, b in DataLoader(TensorDataset(distgrad.tensor(x), distgrad.tensor(y)),
                                                         batch_size=4)]
    theirs = [(a.numpy(), b.numpy()) for a, b in torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=4)]
    assert len(ours) == len(theirs)
    for (a, b), (c, d) in zip(ours, theirs):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
        assert a.dtype == c.dtype and b.dtype == d.dtype


@pytest.mark.gpu
@pytest.mark.skipif(not distgrad.cuda.is_available(), reason="needs an NVIDIA GPU with CuPy")
def test_batches_on_the_gpu():
    x, y = xy(10)
    moved = list(DataLoader(TensorDataset(x, y), batch_size=4, device="cuda"))
    assert all(b[0].is_cuda and b[1].is_cuda for b in moved)
    assert moved[1][1].cpu().tolist() == [4, 5, 6, 7]
    resident = TensorDataset(x.cuda(), y.cuda())  # data already on the GPU: gathered there
    batches = list(DataLoader(resident, batch_size=4, shuffle=True))
    assert all(b[0].is_cuda for b in batches)
    assert sorted(np.concatenate([b[1].cpu().numpy() for b in batches]).tolist()) == list(range(10))
