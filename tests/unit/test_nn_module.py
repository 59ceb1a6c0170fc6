"""Module mechanics: registration, traversal, state_dict, modes, hooks, repr, devices/dtypes."""
import copy

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.register_buffer("steps", dg.zeros((), dtype=dg.int64))
        self.register_buffer("cache", dg.zeros(2), persistent=False)
        self.scale = nn.Parameter(dg.ones(1))

    def forward(self, x):
        return self.lin(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.norm = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.head(self.norm(self.first(x)))


def test_parameters_in_registration_order_with_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # module by module, each module's own parameters before its children's (as PyTorch)
    assert names == ["first.scale", "first.lin.weight", "first.lin.bias", "norm.weight", "norm.bias",
                     "head.weight"]
    assert [p.shape for p in net.parameters()] == [(1,), (4, 3), (4,), (4,), (4,), (2, 4)]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.first.named_parameters(prefix="x")] == ["x.scale", "x.lin.weight", "x.lin.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_shared_parameters_and_modules_are_listed_once():
    net = nn.Module()
    lin = nn.Linear(2, 2)
    net.a, net.b = lin, lin
    net.tied = lin.weight
    assert len(list(net.parameters())) == 2
    assert [n for n, _ in net.named_modules()] == ["", "a"]
    assert list(net.children()) == [lin]
    # state_dict, as PyTorch's, lists the tensors under every name they are reachable by
    assert list(net.state_dict()) == ["tied", "a.weight", "a.bias", "b.weight", "b.bias"]


def test_buffers_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == ["first.steps", "first.cache", "norm.running_mean",
                                                   "norm.running_var", "norm.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["first", "norm", "head"]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Block", "Linear", "BatchNorm1d", "Linear"]
    assert net.get_submodule("first.lin") is net.first.lin
    assert net.get_parameter("first.lin.bias") is net.first.lin.bias
    assert net.get_buffer("norm.running_var") is net.norm.running_var
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("first.nope")


def test_setattr_getattr_delattr():
    m = nn.Module()
    m.w = nn.Parameter(dg.zeros(2))
    assert "w" in m._parameters and "w" not in m.__dict__
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = dg.zeros(2)
    m.w = None
    assert m.w is None and list(m.parameters()) == []
    m.child = nn.ReLU()
    m.child = nn.Tanh()  # replacing keeps one entry
    assert list(m._modules) == ["child"] and isinstance(m.child, nn.Tanh)
    m.register_buffer("buf", dg.ones(1))
    m.buf = dg.zeros(3)
    assert m.buf.shape == (3,)
    with pytest.raises(TypeError, match="as buffer 'buf'"):
        m.buf = 5
    m.plain = 3
    assert m.plain == 3 and "plain" in m.__dict__
    del m.child
    assert "child" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'child'"):
        m.child
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", dg.ones(1))


def test_forgetting_super_init_gives_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_missing_forward_says_so():
    with pytest.raises(NotImplementedError, match="missing the required \"forward\""):
        nn.Module()(dg.ones(1))


def test_state_dict_round_trip_and_persistence():
    torch_like = Net()
    sd = torch_like.state_dict()
    assert list(sd) == ["first.scale", "first.steps", "first.lin.weight", "first.lin.bias", "norm.weight",
                        "norm.bias", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked",
                        "head.weight"]
    assert "first.cache" not in sd  # non-persistent
    assert not any(t.requires_grad for t in sd.values())
    # the values share memory with the module, as in PyTorch
    assert np.shares_memory(sd["head.weight"].array, torch_like.head.weight.array)
    other = Net()
    result = other.load_state_dict({k: v.clone() for k, v in sd.items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (name, a), (_, b) in zip(torch_like.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    # loading copies: the Parameter objects stay the same
    weight = other.head.weight
    other.load_state_dict(sd)
    assert other.head.weight is weight and not np.shares_memory(weight.array, sd["head.weight"].array)


def test_load_state_dict_strict_errors_name_the_keys():
    net = Net()
    sd = net.state_dict()
    sd.pop("head.weight")
    sd["extra.weight"] = dg.zeros(1)
    sd["first.lin.bias"] = dg.zeros(5)
    before = net.first.lin.weight.detach().numpy().copy()
    sd["first.lin.weight"] = dg.zeros(4, 3)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "head.weight"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert "size mismatch for first.lin.bias: copying a param with shape (5,) from checkpoint, " \
           "the shape in current model is (4,)" in msg
    np.testing.assert_array_equal(net.first.lin.weight.detach().numpy(), before)  # nothing was loaded


def test_load_state_dict_non_strict_returns_keys_but_still_checks_shapes():
    net = Net()
    sd = net.state_dict()
    sd.pop("head.weight")
    sd["extra"] = dg.zeros(1)
    sd["first.lin.weight"] = dg.full((4, 3), 2.0)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["head.weight"] and result.unexpected_keys == ["extra"]
    assert float(net.first.lin.weight.array.min()) == 2.0
    sd["first.lin.weight"] = dg.zeros(3, 3)
    with pytest.raises(RuntimeError, match="size mismatch for first.lin.weight"):
        net.load_state_dict(sd, strict=False)


def test_load_state_dict_accepts_numpy_and_casts_dtype():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": np.eye(2), "bias": np.array([1.0, 2.0])})
    assert lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.detach().numpy(), np.eye(2, dtype=np.float32))


def test_train_eval_flags_and_effects():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    x = dg.randn(8, 4)
    # eval: dropout is the identity and batch norm uses (fresh) running stats: y = x / sqrt(1 + eps)
    lin_out = net[0](x)
    np.testing.assert_allclose(net(x).detach().numpy(), lin_out.detach().numpy() / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert int(net[2].num_batches_tracked.item()) == 0
    net.train()
    dropped = nn.Dropout(0.5)(dg.ones(1000))
    assert 300 < int((dropped.numpy() == 0).sum()) < 700
    assert set(np.unique(dropped.numpy())) <= {0.0, 2.0}
    net(x)
    assert int(net[2].num_batches_tracked.item()) == 1
    assert not np.allclose(net[2].running_mean.numpy(), 0)


def test_train_reaches_overridden_train_methods():
    seen = []

    class Custom(nn.Module):
        def train(self, mode=True):
            seen.append(mode)
            return super().train(mode)

    net = nn.Sequential(Custom())
    net.eval()
    assert seen == [False]
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad_and_requires_grad():
    lin = nn.Linear(3, 2)
    lin(dg.randn(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert float(abs(lin.weight.grad.array).sum()) == 0.0
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    lin.requires_grad_(False)
    assert not any(p.requires_grad for p in lin.parameters())


def test_forward_hooks_and_pre_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append((m, out.shape)) or out + 1)
    out = lin(dg.ones(3, 2))
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(lin.bias.detach().numpy() + 1, (3, 2)))
    assert calls == [(lin, (3, 2))]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(lin(dg.ones(1, 2)).detach().numpy(),
                               (lin.weight.sum(1) + lin.bias).detach().numpy()[None], rtol=1e-6)
    assert len(calls) == 1


def test_hook_order_prepend_and_kwargs():
    lin = nn.Linear(2, 2)
    order = []
    lin.register_forward_hook(lambda m, a, o: order.append("second"))
    lin.register_forward_hook(lambda m, a, o: order.append("first"), prepend=True)

    def pre(module, args, kwargs):
        order.append(sorted(kwargs))
        return args, kwargs

    lin.register_forward_pre_hook(pre, with_kwargs=True)
    lin.register_forward_hook(lambda m, a, kw, o: order.append(("kw", len(a))), with_kwargs=True)
    lin(input=dg.ones(1, 2))
    assert order == [["input"], "first", "second", ("kw", 0)]


def test_apply_visits_children_first():
    order = []
    net = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU()))
    net.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_apply_can_reinitialise():
    net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    net.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert all(float(abs(m.weight.array).sum()) == 0 for m in net)


def test_repr_matches_pytorch_layout():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (first): Block(\n"
        "    (lin): Linear(in_features=3, out_features=4, bias=True)\n"
        "  )\n"
        "  (norm): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (head): Linear(in_features=4, out_features=2, bias=False)\n"
        ")")
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Conv2d(1, 2, 3, padding=1)) == "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(nn.Parameter(dg.zeros(1))).startswith("Parameter containing:\ntensor(")


def test_to_dtype_keeps_parameter_objects_and_integer_buffers():
    net = Net()
    net.first.lin(dg.randn(2, 3)).sum().backward()
    params = list(net.parameters())
    assert net.double() is net
    assert list(net.parameters()) == params  # same objects, as in PyTorch
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.first.lin.weight.grad.dtype == np.float64
    assert net.norm.running_mean.dtype == np.float64
    assert net.norm.num_batches_tracked.dtype == np.int64
    net.to(dg.float32)
    assert all(p.dtype == np.float32 for p in net.parameters())
    net.to("cpu", dtype=dg.float64)
    assert net.head.weight.dtype == np.float64 and str(net.head.weight.device) == "cpu"
    net.float().cpu()
    assert net(dg.randn(3, 3)).dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(dg.int64)


def test_parameter_shares_the_tensor_array():
    t = dg.randn(3)
    p = nn.Parameter(t)
    assert p.array is t.array and p.requires_grad and p.is_leaf
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(dg.zeros(2, dtype=dg.int64))
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.array is not p.array
    np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())


def test_register_parameter_rejects_non_leaf():
    m = nn.Module()
    x = nn.Parameter(dg.ones(2))
    with pytest.raises(TypeError, match="nn.Parameter or None"):
        m.register_parameter("y", x * 2)


def test_sequential_indexing_len_append_and_slicing():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    assert seq(dg.ones(5, 2)).shape == (5, 1)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    with pytest.raises(IndexError, match="out of range"):
        seq[5]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(1, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"]


def test_module_list_and_dict_register_their_members():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 1))
    layers.insert(0, nn.Identity())
    assert len(layers) == 5 and isinstance(layers[0], nn.Identity)
    assert len(list(layers.parameters())) == 8
    assert [n for n, _ in layers.named_parameters()][:2] == ["1.weight", "1.bias"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    d = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    d["c"] = nn.Linear(1, 2)
    assert list(d.keys()) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    d.pop("a")
    assert len(list(d.parameters())) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not dg.cuda.is_available(), reason="needs an NVIDIA GPU with CuPy")
def test_module_cuda_round_trip_keeps_objects_and_values():
    net = Net()
    params = list(net.parameters())
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    assert net.cuda() is net and list(net.parameters()) == params
    assert all(p.is_cuda for p in net.parameters()) and net.norm.running_mean.is_cuda
    out = net(dg.randn(5, 3, device="cuda"))
    assert out.is_cuda
    out.sum().backward()
    assert net.head.weight.grad.is_cuda
    net.cpu()
    assert not any(p.is_cuda for p in net.parameters())
    # a CPU checkpoint loads into a GPU model
    gpu = Net().cuda()
    gpu.load_state_dict({k: dg.tensor(v) for k, v in before.items()})
    np.testing.assert_array_equal(gpu.head.weight.detach().cpu().numpy(), before["head.weight"])


def test_deepcopy_of_a_model_is_independent_and_keeps_sharing():
    net = Net()
    net.tied = net.head.weight
    clone = copy.deepcopy(net)
    assert clone.tied is clone.head.weight and clone.head.weight is not net.head.weight
    assert isinstance(clone.head.weight, nn.Parameter) and clone.head.weight.requires_grad
    with dg.no_grad():
        net.head.weight.fill_(3.0)
    net.norm.running_mean.array[:] = 5.0
    assert float(clone.head.weight.array.max()) != 3.0
    assert float(clone.norm.running_mean.array.max()) == 0.0
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        copy.deepcopy(net.head.weight * 2)
