"""Rprop, ASGD and Adafactor against PyTorch: 20-step trajectories over two parameter groups
(a matrix, a 3-D stack Adafactor factors batch-wise, and a vector), state_dict layouts, a
PyTorch state_dict resuming here, and argument errors with PyTorch's messages."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.optim as optim

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
X = RNG.standard_normal((16, 5))
Y = RNG.standard_normal((2, 16, 3))
INITIAL = [RNG.standard_normal((5, 3)) * 0.5, RNG.standard_normal((2, 3, 3)) * 0.5, RNG.standard_normal(3) * 0.1]

CASES = [
    ("Rprop", dict(), dict(lr=0.03)),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.02)), dict(step_sizes=(1e-4, 0.5))),
    ("Rprop", dict(maximize=True), dict(etas=(0.6, 1.1))),
    ("ASGD", dict(), dict(lr=0.03)),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=3, weight_decay=0.1), dict(lr=0.2, t0=7)),
    ("ASGD", dict(t0=2, weight_decay=0.1, maximize=True), dict(lambd=0.1)),
    ("Adafactor", dict(), dict(lr=0.005)),
    ("Adafactor", dict(lr=0.5, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=1.5, weight_decay=0.1),
     dict(lr=0.2, weight_decay=0.0)),
    ("Adafactor", dict(weight_decay=0.1, maximize=True), dict(d=4.0)),
]
STEPS = 20


def loss_of(lib, w, v, b):
    x, y = (lib.tensor(a.astype(str(w.dtype).replace("torch.", ""))) for a in (X, Y))
    return ((lib.tanh(x @ w + b) @ v - y) ** 2).mean()


def train(lib, opt, params, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss_of(lib, *params).backward()
        opt.step()


def start(lib, name, kwargs, group_kwargs, dtype="float64"):
    params = [lib.tensor(a.astype(dtype), requires_grad=True) for a in INITIAL]
    groups = [{"params": params[:2]}, dict(group_kwargs, params=params[2:])]
    return getattr(lib.optim, name)(groups, **kwargs), params


def assert_close_to_torch(dp, tp, dtype="float64"):
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=1e-6)
    for d, t in zip(dp, tp):
        np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), **tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs,group_kwargs", CASES)
def test_trajectory_matches_torch(name, kwargs, group_kwargs, dtype):
    t_opt, tp = start(torch, name, kwargs, group_kwargs, dtype)
    d_opt, dp = start(dg, name, kwargs, group_kwargs, dtype)
    for _ in range(STEPS):
        train(torch, t_opt, tp, 1)
        train(dg, d_opt, dp, 1)
        assert_close_to_torch(dp, tp, dtype)
    for p, initial in zip(dp, INITIAL):
        assert not np.allclose(p.detach().numpy(), initial)


def _state_layout(opt):
    """Each parameter's state: its keys, and the shape of every array among them."""
    return {i: {k: tuple(getattr(v, "shape", ())) for k, v in s.items()} for i, s in opt.state_dict()["state"].items()}


@pytest.mark.parametrize("name,kwargs,group_kwargs", CASES)
def test_state_dict_layout_and_round_trip(name, kwargs, group_kwargs):
    d_opt, dp = start(dg, name, kwargs, group_kwargs)
    t_opt, tp = start(torch, name, kwargs, group_kwargs)
    train(dg, d_opt, dp, 7)
    train(torch, t_opt, tp, 7)
    assert _state_layout(d_opt) == _state_layout(t_opt)
    for mine, theirs in zip(d_opt.state_dict()["param_groups"], t_opt.state_dict()["param_groups"]):
        assert mine["params"] == theirs["params"]
        assert {k: v for k, v in theirs.items() if k in mine} == mine  # the same values for the keys kept
    resumed, rp = start(dg, name, kwargs, group_kwargs)
    for p, q in zip(rp, dp):
        p.array[...] = q.array
    resumed.load_state_dict(d_opt.state_dict())
    train(dg, d_opt, dp, 6)
    train(dg, resumed, rp, 6)
    train(torch, t_opt, tp, 6)
    for p, q in zip(rp, dp):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert_close_to_torch(rp, tp)


@pytest.mark.parametrize("name,kwargs,group_kwargs", CASES)
def test_torch_state_dict_loads_and_continues(name, kwargs, group_kwargs):
    """A torch.optim state_dict, its tensors converted (step, ASGD's eta and mu: 0-d), resumes here."""
    t_opt, tp = start(torch, name, kwargs, group_kwargs)
    train(torch, t_opt, tp, 7)
    saved = t_opt.state_dict()
    d_opt, dp = start(dg, name, kwargs, group_kwargs)
    for p, q in zip(dp, tp):
        p.array[...] = q.detach().numpy()
    d_opt.load_state_dict({"state": {i: {k: dg.tensor(v.numpy()) for k, v in s.items()}
                                     for i, s in saved["state"].items()},
                           "param_groups": saved["param_groups"]})
    train(torch, t_opt, tp, 6)
    train(dg, d_opt, dp, 6)
    assert_close_to_torch(dp, tp)


@pytest.mark.parametrize("name,kwargs", [
    ("Rprop", dict(lr=-1.0)), ("Rprop", dict(etas=(1.0, 1.2))), ("Rprop", dict(etas=(0.5, 0.9))),
    ("Rprop", dict(etas=(0.0, 1.2))),
    ("ASGD", dict(lr=-0.1)), ("ASGD", dict(weight_decay=-0.1)),
    ("Adafactor", dict(lr=-0.1)), ("Adafactor", dict(beta2_decay=0.1)), ("Adafactor", dict(eps=(-1.0, 1e-3))),
    ("Adafactor", dict(eps=(None, -1e-3))), ("Adafactor", dict(d=0.5)), ("Adafactor", dict(weight_decay=-0.1)),
])
def test_invalid_hyperparameters_raise_as_pytorch(name, kwargs):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as mine:
        getattr(optim, name)([dg.ones(2, requires_grad=True)], **kwargs)
    assert str(mine.value) == str(theirs.value)


@pytest.mark.parametrize("name", ["Rprop", "ASGD", "Adafactor"])
def test_pytorch_only_flags_are_accepted(name):
    flags = dict(foreach=None, maximize=False)
    if name != "Adafactor":
        flags.update(capturable=False, differentiable=False)
    params = [dg.ones(2, requires_grad=True)]
    opt = getattr(optim, name)(params, **flags)
    params[0].sum().backward()
    opt.step()
    assert (params[0].detach().numpy() < 1).all()
