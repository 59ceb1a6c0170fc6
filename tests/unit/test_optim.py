"""Optimizers: update rules against PyTorch step for step, param groups, state_dict, and
in-place updates without per-step allocations."""
import tracemalloc

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.optim as optim

RNG = np.random.default_rng(11)
X = RNG.standard_normal((16, 5))
Y = RNG.standard_normal((16, 3))
W0 = RNG.standard_normal((5, 3)) * 0.5
B0 = RNG.standard_normal(3) * 0.1

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.5), maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.5)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, centered=True, momentum=0.5, maximize=True)),
]


def loss_of(lib, w, b):
    """A small non-quadratic problem: mean squared error of a tanh layer."""
    x, y = lib.tensor(X), lib.tensor(Y)
    return ((lib.tanh(x @ w + b) - y) ** 2).mean()


def run(lib, name, kwargs, steps=20):
    w = lib.tensor(W0.copy(), requires_grad=True)
    b = lib.tensor(B0.copy(), requires_grad=True)
    opt = getattr(lib.optim, name)([w, b], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss_of(lib, w, b).backward()
        opt.step()
    return opt, w.detach().numpy().copy(), b.detach().numpy().copy()


@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_torch_after_20_steps(name, kwargs):
    torch = pytest.importorskip("torch")
    import torch.optim  # noqa: F401
    _, tw, tb = run(torch, name, kwargs)
    _, dw, db = run(dg, name, kwargs)
    assert not np.allclose(dw, W0)  # it moved
    np.testing.assert_allclose(dw, tw, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(db, tb, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", CASES)
def test_state_has_torch_keys(name, kwargs):
    torch = pytest.importorskip("torch")
    t_opt, _, _ = run(torch, name, kwargs, steps=2)
    d_opt, _, _ = run(dg, name, kwargs, steps=2)
    t_state, d_state = t_opt.state_dict(), d_opt.state_dict()
    stateless = name == "SGD" and not kwargs.get("momentum")
    assert sorted(d_state["state"]) == sorted(t_state["state"]) == ([] if stateless else [0, 1])
    for index, t_entry in t_state["state"].items():
        d_entry = d_state["state"][index]
        assert sorted(d_entry) == sorted(t_entry)
        for key, value in t_entry.items():
            if key == "step":
                assert d_entry[key] == value.item()
            else:
                np.testing.assert_allclose(d_entry[key].numpy(), value.numpy(), rtol=1e-6, atol=1e-14)
    assert d_state["param_groups"][0]["params"] == t_state["param_groups"][0]["params"] == [0, 1]
    for key, value in d_state["param_groups"][0].items():
        assert t_state["param_groups"][0][key] == (list(value) if key == "betas" else value) or \
            t_state["param_groups"][0][key] == value


def test_torch_state_dict_loads_and_training_continues_identically():
    torch = pytest.importorskip("torch")
    t_opt, tw, tb = run(torch, "Adam", dict(lr=0.01, amsgrad=True), steps=5)
    t_params = [p for g in t_opt.param_groups for p in g["params"]]
    w = dg.tensor(tw, requires_grad=True)
    b = dg.tensor(tb, requires_grad=True)
    d_opt = optim.Adam([w, b], lr=0.5)
    saved = t_opt.state_dict()
    converted = {"state": {i: {k: dg.tensor(v.numpy()) for k, v in s.items()} for i, s in saved["state"].items()},
                 "param_groups": saved["param_groups"]}
    d_opt.load_state_dict(converted)
    assert d_opt.param_groups[0]["lr"] == 0.01 and d_opt.param_groups[0]["params"] == [w, b]
    for _ in range(5):
        t_opt.zero_grad()
        loss_of(torch, *t_params).backward()
        t_opt.step()
        d_opt.zero_grad()
        loss_of(dg, w, b).backward()
        d_opt.step()
    np.testing.assert_allclose(w.detach().numpy(), t_params[0].detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("name,kwargs", [c for c in CASES if c[1].get("momentum") or c[0] != "SGD"][::2])
def test_state_dict_round_trip_resumes_exactly(name, kwargs):
    opt, w_mid, b_mid = run(dg, name, kwargs, steps=5)
    params = [p for g in opt.param_groups for p in g["params"]]
    saved = opt.state_dict()
    w2 = dg.tensor(w_mid, requires_grad=True)
    b2 = dg.tensor(b_mid, requires_grad=True)
    resumed = getattr(optim, name)([w2, b2], **kwargs)
    resumed.load_state_dict(saved)
    # loaded state is a copy, not an alias of the source optimizer's
    key = next(k for k, v in saved["state"][0].items() if isinstance(v, dg.Tensor))
    assert resumed.state[w2][key].array is not opt.state[params[0]][key].array
    for _ in range(5):
        for o, (w, b) in ((opt, params), (resumed, (w2, b2))):
            o.zero_grad()
            loss_of(dg, w, b).backward()
            o.step()
    np.testing.assert_array_equal(w2.detach().numpy(), params[0].detach().numpy())
    np.testing.assert_array_equal(b2.detach().numpy(), params[1].detach().numpy())


def test_checkpoint_through_distgrad_save_resumes_exactly(tmp_path):
    def build():
        dg.manual_seed(3)
        net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
        opt = optim.AdamW(net.parameters(), lr=0.01, amsgrad=True)
        return net, opt, optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def train(net, opt, sched, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((net(dg.tensor(X, dtype=dg.float32)) - dg.tensor(Y, dtype=dg.float32)) ** 2).mean().backward()
            opt.step()
            sched.step()

    net, opt, sched = build()
    train(net, opt, sched, 3)
    dg.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
            str(tmp_path / "ckpt"))
    net2, opt2, sched2 = build()
    ckpt = dg.load(str(tmp_path / "ckpt"))
    net2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    train(net, opt, sched, 3)
    train(net2, opt2, sched2, 3)
    for (name, a), b in zip(net.state_dict().items(), net2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.01 * 0.5 ** 3


def test_load_state_dict_checks_group_shapes():
    a, b = nn.Parameter(dg.ones(2)), nn.Parameter(dg.ones(3))
    saved = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters"):
        optim.SGD([a], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(saved)


def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(dg.ones(2)), nn.Parameter(dg.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1, momentum=0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    assert opt.param_groups[1]["momentum"] == 0.5 and opt.param_groups[1]["params"] == [b]
    a.grad, b.grad = dg.ones(2), dg.ones(2)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 0.9)
    np.testing.assert_allclose(b.detach().numpy(), 0.0)
    c = nn.Parameter(dg.ones(1))
    opt.add_param_group({"params": [c], "lr": 2.0})
    assert opt.param_groups[2]["momentum"] == 0.5
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_parameters_without_grad_are_skipped_and_zero_grad_works():
    a, b = nn.Parameter(dg.ones(2)), nn.Parameter(dg.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = dg.ones(2)
    opt.step()
    assert b not in opt.state and opt.state[a]["step"] == 1
    np.testing.assert_array_equal(b.detach().numpy(), 1.0)
    opt.zero_grad(set_to_none=False)
    assert float(a.grad.array.sum()) == 0.0
    opt.zero_grad()
    assert a.grad is None


def test_constructor_errors():
    p = nn.Parameter(dg.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)


def test_step_runs_closure_and_returns_its_loss():
    w = nn.Parameter(dg.tensor([3.0]))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with dg.no_grad():
        loss = opt.step(closure)  # the closure still records a graph
    assert loss.item() == 9.0
    assert w.item() == pytest.approx(1.5)


@pytest.mark.parametrize("name,kwargs", CASES)
def test_updates_are_in_place_without_allocations(name, kwargs):
    """After the first step, a step reuses the parameter, state and scratch arrays: its peak
    allocation stays far below the size of one parameter."""
    p = nn.Parameter(dg.tensor(RNG.standard_normal(250_000)))  # 2 MB
    p.grad = dg.tensor(RNG.standard_normal(250_000))
    opt = getattr(optim, name)([p], **kwargs)
    opt.step()
    opt.step()
    array, version = p.array, p._version[0]
    state_arrays = {k: v.array for k, v in opt.state[p].items() if isinstance(v, dg.Tensor)}
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000, f"{name} step allocated {peak} bytes"
    assert p.array is array and p._version[0] == version + 1
    assert all(opt.state[p][k].array is a for k, a in state_arrays.items())


def test_optimizer_follows_module_to_dtype():
    net = nn.Linear(3, 2)
    opt = optim.Adam(net.parameters(), lr=0.1)
    net(dg.randn(4, 3)).sum().backward()
    opt.step()
    net.double()
    net.zero_grad()
    net(dg.randn(4, 3, dtype=dg.float64)).sum().backward()
    opt.step()
    assert net.weight.dtype == np.float64 and net.weight.array.dtype == np.float64


def test_repr_lists_groups():
    opt = optim.SGD([nn.Parameter(dg.ones(1))], lr=0.5, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.5" in text and "momentum: 0.9" in text


@pytest.mark.gpu
@pytest.mark.skipif(not dg.cuda.is_available(), reason="needs an NVIDIA GPU with CuPy")
@pytest.mark.parametrize("name,kwargs", CASES)
def test_gpu_updates_match_cpu(name, kwargs):
    results = []
    for device in ("cpu", "cuda"):
        w = dg.tensor(W0.copy(), device=device, requires_grad=True)
        b = dg.tensor(B0.copy(), device=device, requires_grad=True)
        opt = getattr(optim, name)([w, b], **kwargs)
        x, y = dg.tensor(X, device=device), dg.tensor(Y, device=device)
        for _ in range(10):
            opt.zero_grad()
            ((dg.tanh(x @ w + b) - y) ** 2).mean().backward()
            opt.step()
        assert str(w.device).startswith(device)
        results.append(w.detach().cpu().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-9, atol=1e-12)
