"""The last pieces of torch's layout that programs reach for, against PyTorch: data samplers
and datasets, parameter containers, buffers, init functions, module hooks and tensor ops."""
import collections

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.utils import data as dg_data

torch = pytest.importorskip("torch")
from torch.utils import data as torch_data  # noqa: E402

RNG = np.random.default_rng(2024)


# ------------------------------------------------------------------ samplers
def test_weighted_sampler_draws_in_proportion_to_the_weights():
    weights = [1.0, 0.0, 3.0, 6.0]
    sampler = dg_data.WeightedRandomSampler(weights, 40000, generator=dg.Generator().manual_seed(3))
    counts = np.bincount(list(sampler), minlength=4) / 40000
    # binomial standard error at 40000 draws is at most 0.0025: 0.015 is six of them
    np.testing.assert_allclose(counts, np.array(weights) / 10, atol=0.015)
    assert len(sampler) == len(torch_data.WeightedRandomSampler(weights, 40000)) == 40000


def test_weighted_sampler_without_replacement_draws_distinct_indices_favouring_heavy_ones():
    weights = dg.tensor([1.0, 1.0, 1.0, 1.0, 100.0, 100.0])
    firsts = collections.Counter()
    for seed in range(300):
        drawn = list(dg_data.WeightedRandomSampler(weights, 4, replacement=False,
                                                   generator=dg.Generator().manual_seed(seed)))
        assert len(set(drawn)) == 4 and all(0 <= i < 6 for i in drawn)
        firsts[drawn[0]] += 1
    assert firsts[4] + firsts[5] > 0.9 * 300  # 200/204 of first draws are a heavy index


@pytest.mark.parametrize("kwargs", [dict(weights=[1.0, 2.0], num_samples=0), dict(weights=[1.0], num_samples=True),
                                    dict(weights=[[1.0, 2.0]], num_samples=2),
                                    dict(weights=[1.0, 2.0], num_samples=2, replacement=1)])
def test_weighted_sampler_refuses_what_pytorch_refuses(kwargs):
    with pytest.raises(ValueError):
        torch_data.WeightedRandomSampler(**kwargs)
    with pytest.raises(ValueError, match="WeightedRandomSampler"):
        dg_data.WeightedRandomSampler(**kwargs)


def test_weighted_sampler_without_replacement_takes_zero_weights_last():
    for seed in range(20):
        drawn = list(dg_data.WeightedRandomSampler([1.0, 0.0, 1.0, 0.0], 4, replacement=False,
                                                   generator=dg.Generator().manual_seed(seed)))
        assert sorted(drawn[:2]) == [0, 2] and sorted(drawn[2:]) == [1, 3]
    assert sorted(torch_data.WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False)) == [0, 1, 2]
    with pytest.raises(RuntimeError):
        list(torch_data.WeightedRandomSampler([1.0, 0.0, 1.0], 4, replacement=False))
    with pytest.raises(RuntimeError, match="without replacement"):
        dg_data.WeightedRandomSampler([1.0, 0.0, 1.0], 4, replacement=False)


@pytest.mark.parametrize("make", [
    lambda: dg_data.RandomSampler(range(10), replacement=True, num_samples=10**12),
    lambda: dg_data.WeightedRandomSampler([1.0, 2.0, 3.0], 10**12)])
def test_huge_passes_with_replacement_are_drawn_lazily(make):
    sampler = make()
    first = next(iter(sampler))  # 8 TB if drawn at once
    batch = next(iter(dg_data.BatchSampler(sampler, 7, drop_last=False)))
    assert 0 <= first < 10 and len(batch) == 7 and len(sampler) == 10**12


def test_random_sampler_with_replacement_is_uniform():
    drawn = list(dg_data.RandomSampler(range(5), replacement=True, num_samples=20000,
                                       generator=dg.Generator().manual_seed(0)))
    np.testing.assert_allclose(np.bincount(drawn, minlength=5) / 20000, 0.2, atol=0.015)


def test_random_sampler_past_the_dataset_length_repeats_whole_permutations_and_batches_across_them():
    batches = list(dg_data.BatchSampler(dg_data.RandomSampler(range(5), num_samples=12), 5, drop_last=False))
    flat = [i for b in batches for i in b]
    assert [len(b) for b in batches] == [5, 5, 2]
    assert sorted(flat[:5]) == sorted(flat[5:10]) == list(range(5)) and len(set(flat[10:])) == 2


# ------------------------------------------------------------------ datasets
def stream_class(base):
    """An IterableDataset of the numbers in [start, stop), on ``base`` (distgrad's or torch's)."""
    class Stream(base):
        def __init__(self, start, stop):
            self.start, self.stop = start, stop

        def __iter__(self):
            return iter(range(self.start, self.stop))

        def __len__(self):
            return self.stop - self.start
    return Stream


Stream, TorchStream = stream_class(dg_data.IterableDataset), stream_class(torch_data.IterableDataset)


def test_chain_dataset_and_plus_on_streams_read_them_one_after_another():
    ours = dg_data.ChainDataset([Stream(0, 3), Stream(10, 12)])
    theirs = torch_data.ChainDataset([TorchStream(0, 3), TorchStream(10, 12)])
    assert list(ours) == list(theirs) and len(ours) == len(theirs) == 5
    assert list(Stream(0, 2) + Stream(5, 6)) == list(TorchStream(0, 2) + TorchStream(5, 6)) == [0, 1, 5]
    batches = [b.tolist() for b in dg_data.DataLoader(ours, batch_size=2)]
    assert batches == [b.tolist() for b in torch_data.DataLoader(theirs, batch_size=2)]
    with pytest.raises(TypeError, match="IterableDataset"):
        list(dg_data.ChainDataset([Stream(0, 1), [1, 2]]))


def test_stack_dataset_gives_tuples_or_dicts_and_collates_like_pytorch():
    x, y = RNG.standard_normal((6, 3)), np.arange(6)
    ours_t = dg_data.StackDataset(dg_data.TensorDataset(dg.tensor(x)), list(y))
    theirs_t = torch_data.StackDataset(torch_data.TensorDataset(torch.tensor(x)), list(y))
    assert len(ours_t) == len(theirs_t) == 6
    np.testing.assert_array_equal(ours_t[2][0][0].numpy(), theirs_t[2][0][0].numpy())
    assert ours_t[2][1] == theirs_t[2][1]
    ours = dg_data.StackDataset(image=dg.tensor(x), label=list(y))
    theirs = torch_data.StackDataset(image=torch.tensor(x), label=list(y))
    for a, b in zip(dg_data.DataLoader(ours, batch_size=4), torch_data.DataLoader(theirs, batch_size=4)):
        assert list(a) == list(b)
        np.testing.assert_array_equal(a["image"].numpy(), b["image"].numpy())
        np.testing.assert_array_equal(a["label"].numpy(), b["label"].numpy())
    assert ours.__getitems__([1, 3])[1]["label"] == theirs.__getitems__([1, 3])[1]["label"] == 3
    for bad in (lambda m: m.StackDataset(list(y), list(y)[:3]), lambda m: m.StackDataset(),
                lambda m: m.StackDataset(list(y), b=list(y))):
        with pytest.raises(ValueError):
            bad(torch_data)
        with pytest.raises(ValueError, match="StackDataset"):
            bad(dg_data)


def test_default_collate_keeps_dicts_tuples_and_namedtuples_as_pytorch():
    Point = collections.namedtuple("Point", "x y")
    samples = [{"p": Point(1.0, 2), "t": (np.ones(2), "a")}, {"p": Point(3.0, 4), "t": (np.zeros(2), "b")}]
    ours, theirs = dg_data.default_collate(samples), torch_data.default_collate(samples)
    assert type(ours["p"]) is Point and type(theirs["p"]) is Point
    assert ours["p"].x.dtype == dg.float32 and ours["p"].y.tolist() == theirs["p"].y.tolist() == [2, 4]
    assert type(ours["t"]) is type(theirs["t"]) and ours["t"][1] == theirs["t"][1] == ("a", "b")


# ------------------------------------------------------------------ parameter containers and buffers
def test_parameter_list_registers_wraps_and_prints_as_pytorch():
    def build(m, lib):
        pl = m.ParameterList([m.Parameter(lib.ones(3, 4)), lib.zeros(2, dtype=lib.float64)])
        pl.append(lib.ones(1))
        pl.extend([m.Parameter(lib.ones(2))])
        pl += [lib.ones(5)]
        return pl
    ours, theirs = build(nn, dg), build(torch.nn, torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0", "1", "2", "3", "4"]
    assert [type(p).__name__ for p in ours] == ["Parameter"] * 5 and all(p.requires_grad for p in ours)
    assert [tuple(p.shape) for p in ours[1:4]] == [tuple(p.shape) for p in theirs[1:4]]
    assert tuple(ours[-1].shape) == (5,) and len(ours) == 5
    assert repr(ours) == repr(theirs).replace("torch.", "")
    with pytest.raises(IndexError):
        ours[5]


def test_parameter_dict_registers_in_insertion_order_and_prints_as_pytorch():
    def build(m, lib):
        pd = m.ParameterDict({"a": m.Parameter(lib.ones(2)), "b": lib.zeros(3)})
        pd["c"] = lib.ones(1)
        pd.update([("d", lib.ones(4))])
        return pd
    ours, theirs = build(nn, dg), build(torch.nn, torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["a", "b", "c", "d"]
    assert repr(ours) == repr(theirs).replace("torch.FloatTensor", "float32")
    assert tuple(ours.pop("a").shape) == (2,) and "a" not in ours and list(ours) == list(theirs)[1:]
    assert [k for k, _ in ours.items()] == ["b", "c", "d"] and ours.get("zz") is None


def test_containers_and_buffers_inside_a_module_name_their_state_as_pytorch():
    def build(m, lib):
        class Model(m.Module):
            def __init__(self):
                super().__init__()
                self.weights = m.ParameterList([m.Parameter(lib.ones(2, 2)) for _ in range(2)])
                self.scales = m.ParameterDict({"w": m.Parameter(lib.ones(1))})
                self.running = m.Buffer(lib.zeros(2))
                self.scratch = m.Buffer(lib.zeros(3), persistent=False)
        return Model()
    ours, theirs = build(nn, dg), build(torch.nn, torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == ["running", "scratch"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert type(ours.running) is dg.Tensor and not ours.running.requires_grad
    assert repr(ours) == repr(theirs).replace("torch.FloatTensor", "float32").replace("torch.", "")
    ours.double()
    assert ours.running.dtype == dg.float64 and ours.weights[0].dtype == dg.float64


# ------------------------------------------------------------------ init
@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 2, 3, 3), 2), ((3, 5, 1, 3, 3), 1), ((2, 3, 2, 2), 1)])
def test_dirac_matches_pytorch(shape, groups):
    ours, theirs = dg.empty(*shape), torch.empty(*shape)
    nn.init.dirac_(ours, groups)
    torch.nn.init.dirac_(theirs, groups)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_dirac_refuses_what_pytorch_refuses():
    with pytest.raises(ValueError):
        torch.nn.init.dirac_(torch.empty(3, 3))
    with pytest.raises(ValueError, match="dirac_"):
        nn.init.dirac_(dg.empty(3, 3))


def test_sparse_zeroes_the_same_share_of_every_column():
    ours, theirs = dg.empty(10, 300), torch.empty(10, 300)
    nn.init.sparse_(ours, 0.25, std=0.5)
    torch.nn.init.sparse_(theirs, 0.25, std=0.5)
    np.testing.assert_array_equal((ours.numpy() == 0).sum(0), (theirs.numpy() == 0).sum(0))
    assert abs(ours.numpy()[ours.numpy() != 0].std() - 0.5) < 0.05
    with pytest.raises(ValueError, match="sparse_"):
        nn.init.sparse_(dg.empty(3), 0.1)


# ------------------------------------------------------------------ writing at indices (in place and out of place)
def both(array, requires_grad=False):
    return (dg.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def assert_same(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=0)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


@pytest.mark.parametrize("call", [
    lambda x, i, s: x.scatter_(1, i, s[:, :2]),  # PyTorch's backward needs src of the index's shape
    lambda x, i, s: x.scatter_(1, i, value=2.5),
    lambda x, i, s: x.scatter_add_(1, i, s[:, :2]),
    lambda x, i, s: x.index_add_(1, i[0], s[:, :2], alpha=-2),
    lambda x, i, s: x.index_fill_(1, i[0], -1.0),
    lambda x, i, s: x.index_copy_(1, i[0], s[:, :2]),
    lambda x, i, s: x.scatter_reduce_(1, i, s[:, :2], "mean"),
    lambda x, i, s: x.scatter_reduce_(1, i, s[:, :2], "amax", include_self=False),
])
def test_in_place_index_writes_match_pytorch_with_and_without_gradients(call):
    x0, src0 = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 3))
    index = np.array([[0, 2], [1, 3], [3, 0]])
    for grad in (False, True):
        (dx, tx), (ds, ts) = both(x0, grad), both(src0, grad)
        dy, ty = dx * 1.0, tx * 1.0  # in place on non-leaf tensors
        assert call(dy, dg.tensor(index), ds) is dy and call(ty, torch.tensor(index), ts) is ty
        assert_same(dy, ty)
        if grad:
            weights = RNG.standard_normal((3, 4))
            (dy * dg.tensor(weights)).sum().backward()
            (ty * torch.tensor(weights)).sum().backward()
            assert_same(dx.grad, tx.grad)
            if ts.grad is not None:
                assert_same(ds.grad, ts.grad)


def test_scatter_takes_the_leading_block_of_a_larger_src():
    (dx, tx), (ds, ts) = both(np.zeros((3, 3))), both(np.arange(12.0).reshape(3, 4))
    index = np.array([[2, 0], [0, 1]])
    assert_same(dx.scatter(0, dg.tensor(index), ds), tx.scatter(0, torch.tensor(index), ts))
    assert_same(dx.scatter_add(1, dg.tensor(index), ds), tx.scatter_add(1, torch.tensor(index), ts))


@pytest.mark.parametrize("bad", [
    lambda m, x: x.scatter(0, m.tensor([[3]]), x),            # index out of range
    lambda m, x: x.scatter(0, m.tensor([0]), x),              # index of fewer dims
    lambda m, x: x.scatter(0, m.tensor([[0.0]]), x),            # float index
    lambda m, x: x.scatter_add(0, m.tensor([[0]]), x.double()),    # src of another dtype
    lambda m, x: x.index_add(0, m.tensor([0, 1]), x),          # source of the wrong length
    lambda m, x: x.index_fill(2, m.tensor([0]), 1.0),          # dim out of range
    lambda m, x: x.masked_select(m.ones(3, dtype=m.bool)),     # mask that does not broadcast
    lambda m, x: x.masked_select(m.ones(3)),                   # mask that is not bool
    lambda m, x: x.scatter_reduce(0, m.tensor([[0]]), x, "median"),  # no such reduction
    lambda m, x: x.index_copy(0, m.tensor([-1]), x[:1]),       # negative index (index_fill takes them)
])
def test_bad_index_writes_raise_naming_the_op(bad):
    x = np.ones((3, 2), dtype=np.float32)
    with pytest.raises((RuntimeError, IndexError)):
        bad(torch, torch.tensor(x))
    with pytest.raises(Exception, match="scatter|index_add|index_fill|index_copy|masked_select"):
        bad(dg, dg.tensor(x))


# ------------------------------------------------------------------ grids, searching, creation
def test_meshgrid_outputs_are_views_of_the_inputs_as_pytorch():
    (da, ta), (db, tb) = both(np.array([1.0, 2.0, 3.0])), both(np.array([4.0, 5.0]))
    for indexing in ("ij", "xy"):
        for ours, theirs in zip(dg.meshgrid(da, db, indexing=indexing), torch.meshgrid(ta, tb, indexing=indexing)):
            assert_same(ours, theirs)
    with pytest.warns(UserWarning, match="indexing"):
        dg.meshgrid([da, db])
    with pytest.raises(ValueError, match="meshgrid"):
        dg.meshgrid(da, indexing="yx")


def test_bucketize_and_searchsorted_as_pytorch():
    (dv, tv), (db, tb) = both(np.array([[0.5, 1.0, 7.0], [3.0, -2.0, 1.0]])), both(np.array([1.0, 3.0, 5.0]))
    for right in (False, True):
        assert_same(dg.bucketize(dv, db, right=right), torch.bucketize(tv, tb, right=right))
        assert_same(dg.searchsorted(db, dv, right=right), torch.searchsorted(tb, tv, right=right))
    assert_same(dg.bucketize(dv, db, out_int32=True), torch.bucketize(tv, tb, out_int32=True))
    assert dg.searchsorted(db, 3.0, side="right").item() == torch.searchsorted(tb, 3.0, side="right").item() == 2
    sorter = np.array([2, 0, 1])
    (ds, ts), (dsorter, tsorter) = both(np.array([5.0, 1.0, 3.0])), both(sorter)
    assert_same(dg.searchsorted(ds, dv, sorter=dsorter), torch.searchsorted(ts, tv, sorter=tsorter))
    with pytest.raises(RuntimeError, match="bucketize"):
        dg.bucketize(dv, dv)
    with pytest.raises(RuntimeError, match="searchsorted"):
        dg.searchsorted(db, dv, right=True, side="left")


def test_logspace_and_conveniences_programs_use():
    assert_same(dg.logspace(0, 2, 5), torch.logspace(0, 2, 5))
    assert_same(dg.logspace(-1, 1, 3, base=2.0, dtype=dg.float64), torch.logspace(-1, 1, 3, base=2.0,
                                                                                 dtype=torch.float64))
    (dx, tx) = both(np.array([1.0, 5.0, 3.0]))
    (dlo, tlo), (dhi, thi) = both(np.array([2.0, 2.0, 4.0])), both(np.array([3.0, 3.0, 3.5]))
    assert_same(dg.clamp(dx, min=dlo, max=dhi), torch.clamp(tx, min=tlo, max=thi))
    mask = np.array([[True, False], [True, True]])
    for ours, theirs in zip(dg.where(dg.tensor(mask)), torch.where(torch.tensor(mask))):
        assert_same(ours, theirs)
    array = np.ones(3)
    shared = dg.from_numpy(array)
    array[0] = 5.0
    shared[1] = 7.0
    assert shared.tolist() == [5.0, 7.0, 1.0] and array.tolist() == [5.0, 7.0, 1.0]
    assert dg.ones(2, 3).element_size() == torch.ones(2, 3).element_size() == 4
    assert dg.ones(2, 3).nelement() == dg.ones(2, 3).numel() == 6 and dg.ones(2, 3).dim() == 2


# ------------------------------------------------------------------ module backward hooks
def linear_pair():
    theirs, ours = torch.nn.Linear(3, 2).double(), nn.Linear(3, 2).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def record_backward(m, lib, module, x_requires_grad, replace=False):
    """Run module on a fixed input with hooks that record (and, with ``replace``, double) the
    gradients crossing its border; the recorded arrays and the input's gradient."""
    seen = []

    def pre_hook(mod, grad_output):
        seen.append(("pre", [g.detach().numpy().copy() for g in grad_output]))
        return (grad_output[0] * 3,) if replace else None

    def hook(mod, grad_input, grad_output):
        seen.append(("full", [None if g is None else g.detach().numpy().copy() for g in grad_input],
                     [g.detach().numpy().copy() for g in grad_output]))
        return tuple(None if g is None else g * 2 for g in grad_input) if replace else None
    handles = [module.register_full_backward_pre_hook(pre_hook), module.register_full_backward_hook(hook)]
    x = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=x_requires_grad)
    (module(x) ** 2).sum().backward()
    for h in handles:
        h.remove()
    (module(x) ** 2).sum().backward()  # removed: no more records
    return seen, None if x.grad is None else x.grad.numpy()


@pytest.mark.filterwarnings("ignore:Full backward hook is firing:UserWarning")  # PyTorch's, for a first layer
@pytest.mark.parametrize("x_requires_grad", [True, False])
@pytest.mark.parametrize("replace", [False, True])
def test_full_backward_hooks_see_and_replace_the_gradients_pytorch_gives(x_requires_grad, replace):
    ours, theirs = linear_pair()
    seen_ours, grad_ours = record_backward(nn, dg, ours, x_requires_grad, replace)
    seen_theirs, grad_theirs = record_backward(torch.nn, torch, theirs, x_requires_grad, replace)
    assert [s[0] for s in seen_ours] == [s[0] for s in seen_theirs] == ["pre", "full"]
    for a, b in zip(seen_ours, seen_theirs):
        for xs, ys in zip(a[1:], b[1:]):
            assert [x is None for x in xs] == [y is None for y in ys]
            for x, y in zip(xs, ys):
                if x is not None:
                    np.testing.assert_allclose(x, y, rtol=1e-12)
    if x_requires_grad:
        np.testing.assert_allclose(grad_ours, grad_theirs, rtol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)


def test_full_backward_hook_gets_one_gradient_per_argument_as_pytorch():
    class Scale:
        def forward(self, a, k, b, c):
            return a * b * k
    grads = {}
    for name, m, lib in (("ours", nn, dg), ("theirs", torch.nn, torch)):
        module = type("Scale", (m.Module,), {"forward": Scale.forward})()
        module.register_full_backward_hook(lambda mod, gi, go, name=name: grads.__setitem__(name, gi))
        a, b = lib.tensor([1.0, 2.0], requires_grad=True), lib.tensor([3.0, 4.0])
        module(a, 2.0, b, lib.ones(3, dtype=lib.int64)).sum().backward()
        assert a.grad.tolist() == [6.0, 8.0]
    assert [g is None for g in grads["ours"]] == [g is None for g in grads["theirs"]] == [False, True, False, False]
    for ours, theirs in zip(grads["ours"], grads["theirs"]):
        if ours is not None:
            assert ours.tolist() == theirs.tolist() and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_legacy_type_names_type_as_and_dtype_limits_as_pytorch():
    ours, theirs = dg.tensor([1.5, 2.5]), torch.tensor([1.5, 2.5])
    for name in ("torch.DoubleTensor", "torch.LongTensor", "torch.BoolTensor", "torch.HalfTensor"):
        assert_same(ours.type(name), theirs.type(name))
    assert_same(ours.type(dg.int32), theirs.type(torch.int32))
    assert_same(ours.type_as(dg.ones(1, dtype=dg.int64)), theirs.type_as(torch.ones(1, dtype=torch.int64)))
    assert ours.ndimension() == theirs.ndimension() == 1
    assert dg.is_floating_point(ours) and not dg.is_floating_point(ours.long())
    assert dg.finfo(dg.float32).eps == torch.finfo(torch.float32).eps
    assert dg.iinfo(dg.int64).max == torch.iinfo(torch.int64).max
    assert isinstance(ours.dtype, dg.dtype)


def test_scatter_reduce_prod_says_what_to_use_instead():
    with pytest.raises(NotImplementedError, match="prod"):
        dg.ones(3).scatter_reduce(0, dg.tensor([0, 0]), dg.ones(2), "prod")


def test_hand_written_adam_steps_with_addcmul_and_addcdiv_match_pytorch():
    def run(lib):
        p, grad = lib.tensor(np.linspace(-1, 1, 5)), lib.tensor(np.cos(np.arange(5.0)))
        m, v = lib.zeros_like(p), lib.zeros_like(p)
        for step in range(1, 4):
            m.mul_(0.9).add_(grad, alpha=0.1)
            v.mul_(0.999).addcmul_(grad, grad, value=0.001)
            denom = v.sqrt().add_(1e-8)
            p.addcdiv_(m, denom, value=-0.01 / (1 - 0.9 ** step))
            grad = grad.reciprocal().sigmoid_().exp_()
        return p
    np.testing.assert_allclose(run(dg).numpy(), run(torch).numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError):
        torch.addcdiv(torch.ones(2), torch.ones(2, dtype=torch.int64), torch.ones(2, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="addcdiv"):
        dg.addcdiv(dg.ones(2), dg.ones(2, dtype=dg.int64), dg.ones(2, dtype=dg.int64))
