"""LBFGS against PyTorch's: the parameters after every step(closure) on Rosenbrock, a least-squares
fit and a logistic regression, with a fixed step and with the strong-Wolfe line search; state_dict
resumption; the line search's cubic step against the closed form."""
import numpy as np
import pytest

import distgrad as dg
from distgrad.optim._wolfe import _Point, cubic_minimizer

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
A = RNG.standard_normal((20, 4))
B = A @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * RNG.standard_normal(20)
LABELS = (A @ np.array([1.5, -1.0, 0.0, 2.0]) + 0.5 * RNG.standard_normal(20) > 0).astype(float)


def rosenbrock(lib, xy):
    return (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2


def least_squares(lib, w):
    return ((lib.tensor(A, dtype=w.dtype) @ w - lib.tensor(B, dtype=w.dtype)) ** 2).mean()


def logistic(lib, w):
    z = lib.tensor(A, dtype=w.dtype) @ w
    y = lib.tensor(LABELS, dtype=w.dtype)
    return (lib.log(1 + lib.exp(z)) - y * z).mean() + 1e-3 * (w * w).sum()


PROBLEMS = {"rosenbrock": (rosenbrock, [-1.5, 2.0]), "least_squares": (least_squares, [0.0] * 4),
            "logistic": (logistic, [0.1, 0.0, -0.1, 0.0])}
# Few iterations per step: L-BFGS on Rosenbrock amplifies rounding differences (the order of
# a dot product's sums) about tenfold every few iterations.
SETTINGS = [dict(max_iter=4), dict(line_search_fn="strong_wolfe", max_iter=4), dict(lr=0.5, max_iter=5, history_size=3),
            dict(line_search_fn="strong_wolfe", max_iter=6, max_eval=9, history_size=2)]


def _run(lib, problem, kwargs, dtype, steps, opt=None, param=None):
    fn, x0 = PROBLEMS[problem]
    if param is None:
        param = lib.tensor(np.array(x0, dtype=dtype), requires_grad=True)
    opt = opt or lib.optim.LBFGS([param], **kwargs)

    def closure():
        opt.zero_grad()
        loss = fn(lib, param)
        loss.backward()
        return loss
    path = []
    for _ in range(steps):
        loss = opt.step(closure)
        path.append((loss.item(), param.detach().numpy().copy()))
    return path, opt, param


IDS = ["plain", "wolfe", "short_history", "wolfe_short"]
# float32 with the line search only where the losses along the line are far apart: near a
# minimum two float32 losses can tie, and PyTorch's and our rounding then pick different
# (equally good) steps.
CASES = [(problem, name, kwargs, dtype) for problem in sorted(PROBLEMS) for name, kwargs in zip(IDS, SETTINGS)
         for dtype in ("float64", "float32")
         if dtype == "float64" or "line_search_fn" not in kwargs or problem == "least_squares"]


@pytest.mark.parametrize("problem,name,kwargs,dtype", CASES, ids=["-".join(c[:2] + c[3:]) for c in CASES])
def test_trajectory_matches_torch(problem, name, kwargs, dtype):
    ours, opt, _ = _run(dg, problem, kwargs, dtype, 4)
    theirs, t_opt, t_param = _run(torch, problem, kwargs, dtype, 4)
    tol = dict(rtol=1e-7, atol=1e-9) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    for i, ((l1, p1), (l2, p2)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p1, p2, err_msg=f"step {i}", **tol)
        np.testing.assert_allclose(l1, l2, err_msg=f"step {i}", **tol)
    ours_state, theirs_state = opt.state[opt.param_groups[0]["params"][0]], t_opt.state[t_param]
    assert ours_state["func_evals"] == theirs_state["func_evals"]
    assert ours_state["n_iter"] == theirs_state["n_iter"]
    assert not np.allclose(ours[-1][1], PROBLEMS[problem][1])  # it moved


@pytest.mark.parametrize("kwargs", SETTINGS[:2], ids=["plain", "wolfe"])
def test_state_dict_resumes_the_same_path(kwargs, tmp_path):
    straight, _, _ = _run(dg, "rosenbrock", dict(kwargs, max_iter=3), "float64", 4)
    first, opt, param = _run(dg, "rosenbrock", dict(kwargs, max_iter=3), "float64", 2)
    dg.save(opt.state_dict(), tmp_path / "lbfgs.pt")  # through a checkpoint file
    saved = dg.load(tmp_path / "lbfgs.pt")
    assert sorted(saved["state"][0]) == sorted(
        ["func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss"])
    fresh = dg.tensor(param.detach().numpy(), requires_grad=True)
    resumed = dg.optim.LBFGS([fresh], **dict(kwargs, max_iter=3))
    resumed.load_state_dict(saved)
    rest, _, _ = _run(dg, "rosenbrock", {}, "float64", 2, opt=resumed, param=fresh)
    for (l1, p1), (l2, p2) in zip(straight, first + rest):
        np.testing.assert_array_equal(p1, p2)
        assert l1 == l2


def test_stops_at_a_minimum_without_moving():
    w = dg.zeros(2, requires_grad=True)
    opt = dg.optim.LBFGS([w])

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss
    assert float(opt.step(closure)) == 0.0
    assert w.tolist() == [0.0, 0.0] and opt.state[w]["func_evals"] == 1


def test_cubic_step_is_the_minimizer_of_the_interpolating_cubic():
    # f(t) = (t - 1.3)^3 - 3 (t - 1.3) has its local minimum at t = 2.3; a cubic through two of
    # its points with their slopes is f itself.
    def point(t):
        return _Point(t, (t - 1.3) ** 3 - 3 * (t - 1.3), None, 3 * (t - 1.3) ** 2 - 3)
    assert cubic_minimizer(point(1.5), point(3.0)) == pytest.approx(2.3, rel=1e-12)
    assert cubic_minimizer(point(3.0), point(1.5)) == pytest.approx(2.3, rel=1e-12)
    assert cubic_minimizer(point(1.5), point(3.0), bounds=(1.5, 2.0)) == 2.0


def test_bad_arguments():
    w = dg.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="line_search_fn"):
        dg.optim.LBFGS([w], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="parameter groups"):
        dg.optim.LBFGS([{"params": [w]}, {"params": [dg.zeros(1, requires_grad=True)]}])
    with pytest.raises(RuntimeError, match="closure"):
        dg.optim.LBFGS([w]).step(None)
