"""Adadelta, Adamax, NAdam and RAdam (and the schedules added beside them) against PyTorch:
20-step trajectories from the same weights, state_dict round trips, argument checks."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.optim as optim

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(5)
X = RNG.standard_normal((16, 5))
Y = RNG.standard_normal((16, 3))
W0 = RNG.standard_normal((5, 3)) * 0.5
B0 = RNG.standard_normal(3) * 0.1

CASES = [
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(weight_decay=0.1, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict()),  # rho_t > 5 from step 6: both branches within 20 steps
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]


def loss_of(lib, w, b):
    x, y = (lib.tensor(a.astype(str(w.dtype).replace("torch.", ""))) for a in (X, Y))
    return ((lib.tanh(x @ w + b) - y) ** 2).mean()


def train(lib, opt, params, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss_of(lib, *params).backward()
        opt.step()


def start(lib, name, kwargs, dtype):
    params = [lib.tensor(a.astype(dtype), requires_grad=True) for a in (W0, B0)]
    return getattr(lib.optim, name)(params, **kwargs), params


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", CASES)
def test_trajectory_matches_torch(name, kwargs, dtype):
    t_opt, tp = start(torch, name, kwargs, dtype)
    d_opt, dp = start(dg, name, kwargs, dtype)
    for _ in range(20):
        train(torch, t_opt, tp, 1)
        train(dg, d_opt, dp, 1)
        for t, d in zip(tp, dp):
            tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=1e-6)
            np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), **tol)
    assert not np.allclose(dp[0].detach().numpy(), W0)


@pytest.mark.parametrize("name,kwargs", CASES)
def test_state_dict_round_trip_and_torch_keys(name, kwargs):
    d_opt, dp = start(dg, name, kwargs, "float64")
    t_opt, tp = start(torch, name, kwargs, "float64")
    train(dg, d_opt, dp, 7)
    train(torch, t_opt, tp, 7)
    saved = d_opt.state_dict()
    assert sorted(saved["state"][0]) == sorted(t_opt.state_dict()["state"][0])
    resumed, rp = start(dg, name, kwargs, "float64")
    for p, q in zip(rp, dp):
        p.array[...] = q.array
    resumed.load_state_dict(saved)
    train(dg, d_opt, dp, 6)
    train(dg, resumed, rp, 6)
    train(torch, t_opt, tp, 6)
    for p, q, t in zip(rp, dp, tp):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
        np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kwargs", [
    ("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1.0)),
    ("Adamax", dict(betas=(1.0, 0.9))), ("Adamax", dict(weight_decay=-0.1)),
    ("NAdam", dict(momentum_decay=-1.0)), ("NAdam", dict(betas=(0.9, -0.1))),
    ("RAdam", dict(lr=-0.1)), ("RAdam", dict(eps=-1e-8)),
])
def test_invalid_hyperparameters_raise_as_pytorch(name, kwargs):
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match="Invalid"):
        getattr(optim, name)([dg.ones(2, requires_grad=True)], **kwargs)
