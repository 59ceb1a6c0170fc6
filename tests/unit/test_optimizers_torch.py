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


SCHEDULES = [
    ("SGD", dict(momentum=0.9), "CosineAnnealingWarmRestarts", dict(T_0=3)),
    ("SGD", dict(), "CosineAnnealingWarmRestarts", dict(T_0=2, T_mult=2, eta_min=0.01)),
    ("SGD", dict(momentum=0.9), "OneCycleLR", dict(max_lr=0.5, total_steps=30)),
    ("Adam", dict(), "OneCycleLR", dict(max_lr=[0.5, 0.2], epochs=5, steps_per_epoch=6, anneal_strategy="linear",
                                        three_phase=True, pct_start=0.25)),
    ("SGD", dict(), "OneCycleLR", dict(max_lr=0.3, total_steps=30, cycle_momentum=False, div_factor=10.0)),
    ("SGD", dict(momentum=0.9), "CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("Adam", dict(), "CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, step_size_down=5,
                                      mode="triangular2")),
    ("SGD", dict(momentum=0.5), "CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range",
                                                 gamma=0.9, base_momentum=0.3, max_momentum=0.6)),
    ("SGD", dict(), "CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, cycle_momentum=False,
                                     scale_fn=lambda x: 0.5 ** x, scale_mode="iterations")),
    ("SGD", dict(), "ExponentialLR", dict(gamma=0.8)),
]


def _scheduled(lib, opt_name, opt_kwargs, name, kwargs):
    params = [lib.tensor(W0.copy(), requires_grad=True), lib.tensor(B0.copy(), requires_grad=True)]
    opt = getattr(lib.optim, opt_name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], lr=0.1,
                                       **opt_kwargs)
    return opt, params, getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)


def _hyper(opt):
    """lr, momentum and beta1 of each group (NaN where the optimizer has none)."""
    return [(g["lr"], g.get("momentum", np.nan), g["betas"][0] if "betas" in g else np.nan) for g in opt.param_groups]


@pytest.mark.parametrize("opt_name,opt_kwargs,name,kwargs", SCHEDULES)
def test_schedule_matches_torch(opt_name, opt_kwargs, name, kwargs):
    t_opt, tp, t_sched = _scheduled(torch, opt_name, opt_kwargs, name, kwargs)
    d_opt, dp, d_sched = _scheduled(dg, opt_name, opt_kwargs, name, kwargs)
    for step in range(25):
        np.testing.assert_allclose(np.array(_hyper(d_opt), dtype=float), np.array(_hyper(t_opt), dtype=float),
                                   rtol=1e-12, atol=1e-15, err_msg=f"step {step}")
        assert d_sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-12)
        train(torch, t_opt, tp, 1)
        train(dg, d_opt, dp, 1)
        t_sched.step()
        d_sched.step()
        if step == 11:  # resume from the state_dicts halfway
            d_state, o_state = d_sched.state_dict(), d_opt.state_dict()
            d_opt, dp2, d_sched = _scheduled(dg, opt_name, opt_kwargs, name, kwargs)
            for p, q in zip(dp2, dp):
                p.array[...] = q.array
            dp = dp2
            d_opt.load_state_dict(o_state)
            d_sched.load_state_dict(d_state)
    for t, d in zip(tp, dp):
        np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=1e-6, atol=1e-10)


def test_cosine_warm_restarts_with_explicit_epochs():
    for T_mult in (1, 2):
        t_opt, _, t_sched = _scheduled(torch, "SGD", {}, "CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=T_mult))
        d_opt, _, d_sched = _scheduled(dg, "SGD", {}, "CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=T_mult))
        for epoch in [0.5, 1, 4, 7.25, 13, 2]:
            t_sched.step(epoch)
            d_sched.step(epoch)
            assert d_sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("kwargs", [dict(), dict(mode="max", patience=2, factor=0.5, cooldown=2),
                                    dict(threshold_mode="abs", threshold=0.1, patience=1, min_lr=[0.02, 0.04]),
                                    dict(mode="max", threshold_mode="abs", patience=0, min_lr=0.03)])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    t_opt, _, t_sched = _scheduled(torch, "SGD", {}, "ReduceLROnPlateau", kwargs)
    d_opt, _, d_sched = _scheduled(dg, "SGD", {}, "ReduceLROnPlateau", kwargs)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 1.2, 0.5] * 3 + [0.5] * 15
    for i, m in enumerate(metrics):
        t_sched.step(m)
        d_sched.step(dg.tensor(m, dtype=dg.float64))  # a 0-d tensor, as a loss is
        assert str(_hyper(d_opt)) == str(_hyper(t_opt)) and d_sched.get_last_lr() == t_sched.get_last_lr()
        if i == 20:
            state = d_sched.state_dict()
            d_sched = dg.optim.lr_scheduler.ReduceLROnPlateau(d_opt, **kwargs)
            d_sched.load_state_dict(state)
    assert [g["lr"] for g in d_opt.param_groups] != [0.1, 0.05]  # it reduced


@pytest.mark.parametrize("name,kwargs", [
    ("CosineAnnealingWarmRestarts", dict(T_0=0)), ("CosineAnnealingWarmRestarts", dict(T_0=2, T_mult=0)),
    ("OneCycleLR", dict(max_lr=0.1)), ("OneCycleLR", dict(max_lr=0.1, total_steps=10, pct_start=1.5)),
    ("OneCycleLR", dict(max_lr=[0.1], total_steps=10)), ("OneCycleLR", dict(max_lr=0.1, total_steps=10,
                                                                           anneal_strategy="exp")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, mode="bogus")), ("ReduceLROnPlateau", dict(factor=1.0)),
    ("ReduceLROnPlateau", dict(mode="bogus")), ("ReduceLROnPlateau", dict(threshold_mode="bogus")),
])
def test_schedule_argument_errors_as_pytorch(name, kwargs):
    with pytest.raises(ValueError):
        _scheduled(torch, "SGD", dict(momentum=0.9), name, kwargs)
    with pytest.raises(ValueError):
        _scheduled(dg, "SGD", dict(momentum=0.9), name, kwargs)


def test_one_cycle_raises_past_total_steps_and_needs_momentum():
    _, _, sched = _scheduled(dg, "SGD", dict(momentum=0.9), "OneCycleLR", dict(max_lr=0.1, total_steps=2))
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()
    with pytest.raises(ValueError, match="momentum"):
        _scheduled(dg, "Adagrad", {}, "OneCycleLR", dict(max_lr=0.1, total_steps=2))


@pytest.mark.parametrize("name,kwargs", [c for c in CASES if not c[1].get("maximize")])
def test_torch_state_dict_loads_and_continues(name, kwargs):
    """A torch.optim state_dict (tensors converted, NAdam's mu_product a 0-d tensor) resumes in distgrad."""
    t_opt, tp = start(torch, name, kwargs, "float64")
    train(torch, t_opt, tp, 7)
    saved = t_opt.state_dict()
    d_opt, dp = start(dg, name, kwargs, "float64")
    for p, q in zip(dp, tp):
        p.array[...] = q.detach().numpy()
    d_opt.load_state_dict({"state": {i: {k: dg.tensor(v.numpy()) for k, v in s.items()}
                                     for i, s in saved["state"].items()},
                           "param_groups": saved["param_groups"]})
    train(torch, t_opt, tp, 6)
    train(dg, d_opt, dp, 6)
    for p, t in zip(dp, tp):
        np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
