"""The ops added for ported programs (diff, movedim, diagonal, quantile, median, linalg, lerp_,
index_put_, ...) against PyTorch on fixed inputs: values, dtypes and float64 gradients, plus the
cases the differential table does not draw (in place, accumulate, anomaly mode, errors)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import distgrad as dg  # noqa: E402
from distgrad.errors import OpError  # noqa: E402

RNG = np.random.default_rng(0)


def r(*shape):
    return RNG.standard_normal(shape)


A = r(3, 3) + 3 * np.eye(3)  # well conditioned
NAN_ROWS = np.array([[1.0, np.nan, 3, 5], [1, 2, 3, 4], [np.nan] * 4])
TIES = np.array([[1.0, np.nan, 3, 5], [1, 2, 3, 4]])
RUNS = np.array([[1.0, 3, 3, 2, np.nan, 5], [4, 1, 1, 0, 2, 2]])
Q = np.array([0.0, 0.3, 0.5, 1.0])

# name: (call(m, *inputs), inputs)
CASES = {
    "copysign(int)": (lambda m, a, b: m.copysign(a, b), [np.array([1, -2, 3]), np.array([-1, 1, -1])]),
    "fmod(int)": (lambda m, a: m.fmod(a, 2), [np.array([-5, 5, 3])]),
    "xlogy(zeros)": (lambda m, a, b: m.xlogy(a, b), [np.array([0.0, 1, 2, 0]), np.array([0.0, 2, 3, -1])]),
    "sinc(0)": (lambda m, a: m.sinc(a), [np.array([0.0, 0.5, -1.3, 2])]),
    "nan_to_num(values)": (lambda m, a: m.nan_to_num(a, nan=1.0, posinf=2.0, neginf=-3.0),
                           [np.array([np.nan, np.inf, -np.inf, 1.0])]),
    "clamp_max(tensor)": (lambda m, a, b: m.clamp_max(a, b), [r(3, 4), r(3, 4)]),
    "diff(append)": (lambda m, a, b: m.diff(a, dim=0, prepend=b, append=b), [r(3, 4), r(1, 4)]),
    "diff(bool)": (lambda m, a: m.diff(a), [np.array([True, False, False])]),
    "movedim(tuples)": (lambda m, a: m.movedim(a, (0, 1), (2, 0)), [r(2, 3, 4)]),
    "diagonal(beyond)": (lambda m, a: m.diagonal(a, 7), [r(3, 4)]),
    "diag_embed(dims)": (lambda m, a: m.diag_embed(a, -2, -1, 0), [r(3, 4)]),
    "unfold(step)": (lambda m, a: a.unfold(0, 2, 2), [r(5, 3)]),
    "unfold(0-d)": (lambda m, a: a.unfold(0, 1, 1), [np.array(2.0)]),
    "tensordot(pairs)": (lambda m, a, b: m.tensordot(a, b, dims=([0, 2], [1, 0])), [r(2, 3, 4), r(4, 2, 5)]),
    "kron(ranks)": (lambda m, a, b: m.kron(a, b), [r(2), r(3, 2)]),
    "cross(first dim of size 3)": (lambda m, a, b: m.cross(a, b, dim=1), [r(4, 3), r(4, 3)]),
    "median(ties, NaN)": (lambda m, a: m.median(a, 1), [TIES]),
    "nanmedian(all, ties)": (lambda m, a: m.nanmedian(a), [TIES]),
    "quantile(q grad)": (lambda m, a, q: m.quantile(a, q, dim=1), [r(3, 4), Q]),
    "quantile(keepdim, flat)": (lambda m, a, q: m.quantile(a, q, keepdim=True), [r(3, 4), Q]),
    "nanquantile(all NaN row)": (lambda m, a, q: m.nanquantile(a, q, dim=1), [NAN_ROWS, Q]),
    "cummax(NaN, ties)": (lambda m, a: tuple(m.cummax(a, 1)), [RUNS]),
    "cummin(NaN, ties)": (lambda m, a: tuple(m.cummin(a, 1)), [RUNS]),
    "logcumsumexp(dim 0)": (lambda m, a: m.logcumsumexp(a, 0), [r(3, 2, 2)]),
    "linalg.norm(nuc)": (lambda m, a: m.linalg.norm(a, "nuc"), [r(3, 4)]),
    "linalg.matrix_norm(2)": (lambda m, a: m.linalg.matrix_norm(a, 2), [r(2, 3, 4)]),
    "linalg.matrix_norm(-2, dims)": (lambda m, a: m.linalg.matrix_norm(a, -2, dim=(2, 0), keepdim=True),
                                     [r(3, 2, 4)]),
    "linalg.svdvals": (lambda m, a: m.linalg.svdvals(a), [r(2, 4, 3)]),
    "linalg.solve(batched vector)": (lambda m, a, b: m.linalg.solve(a, b), [np.stack([A, A.T]), r(2, 3)]),
    "linalg.solve(broadcast)": (lambda m, a, b: m.linalg.solve(a, b), [np.stack([A, A.T]), r(3, 2)]),
    "linalg.det(batch)": (lambda m, a: m.linalg.det(a), [np.stack([A, A.T])]),
    "linalg.cholesky(upper, batch)": (lambda m, a: m.linalg.cholesky(a, upper=True),
                                      [np.stack([A @ A.T, A.T @ A + np.eye(3)])]),
    "index_put(accumulate)": (lambda m, a, v: m.index_put(a, (m.tensor([0, 2, 0]),), v, accumulate=True),
                              [r(3, 4), r(4)]),
}


def _lerp_(m, a, b):
    c = a * 1
    c.lerp_(b, 0.3)
    return c


def _index_put_(m, a, v, accumulate):
    c = a * 1
    c.index_put_((m.tensor([0, 2, 0]), m.tensor([1, 1, 1])), v, accumulate=accumulate)
    return c


CASES["lerp_"] = (_lerp_, [r(3, 4), r(3, 4)])
CASES["index_put_(accumulate)"] = (lambda m, a, v: _index_put_(m, a, v, True), [r(3, 4), r(3)])
CASES["index_put_"] = (lambda m, a, v: _index_put_(m, a, v[:1].expand(3), False), [r(3, 4), r(3)])


def _run(m, call, arrays):
    inputs = [m.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = call(m, *inputs)
    return inputs, list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    call, arrays = CASES[name]
    t_in, t_out = _run(torch, call, arrays)
    d_in, d_out = _run(dg, call, arrays)
    weights = []
    for t, d in zip(t_out, d_out):
        assert str(d.dtype) == str(t.dtype).replace("torch.", "") and tuple(d.shape) == tuple(t.shape)
        np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
        if t.requires_grad:
            weights.append(RNG.standard_normal(tuple(t.shape)))
    if not weights:
        return
    grads = [[t for t in outs if t.requires_grad] for outs in (t_out, d_out)]
    sum((t * torch.tensor(w)).sum() for t, w in zip(grads[0], weights)).backward()
    sum((d * dg.tensor(w)).sum() for d, w in zip(grads[1], weights)).backward()
    for t, d in zip(t_in, d_in):
        if t.requires_grad:
            expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
            np.testing.assert_allclose(d.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_heaviside_values_and_no_derivative():
    x, v = np.array([-1.0, 0, 2]), np.array([0.5])
    assert dg.heaviside(dg.tensor(x), dg.tensor(v)).tolist() == torch.heaviside(torch.tensor(x), torch.tensor(v)).tolist()
    y = dg.heaviside(dg.tensor(x, requires_grad=True), dg.tensor(v))
    with pytest.raises(OpError, match="heaviside"):
        y.sum().backward()


def test_randint_like_shape_dtype_and_range():
    x = dg.zeros(3, 5, dtype=dg.int32)
    y = dg.randint_like(x, 2, 6)
    assert y.shape == (3, 5) and y.dtype == dg.int32
    assert 2 <= int(y.min()) and int(y.max()) < 6
    assert int(dg.randint_like(x, 1).max()) == 0  # randint_like(x, high): [0, high)


def test_detect_anomaly_records_the_mode_and_restores_it():
    assert not dg.autograd.is_anomaly_enabled()
    with dg.autograd.detect_anomaly():
        assert dg.autograd.is_anomaly_enabled()
        x = dg.ones(2, requires_grad=True)
        (x * 2).sum().backward()
    assert not dg.autograd.is_anomaly_enabled()
    with dg.autograd.set_detect_anomaly(True, check_nan=False):
        assert dg.autograd.is_anomaly_enabled() and not dg.autograd.is_anomaly_check_nan_enabled()
    assert not dg.autograd.is_anomaly_enabled()
    dg.autograd.set_detect_anomaly(True)
    assert dg.autograd.is_anomaly_enabled()
    dg.autograd.set_detect_anomaly(False)
    assert not dg.autograd.is_anomaly_enabled()


@pytest.mark.parametrize("call, op", [
    (lambda m: m.diagonal(m.zeros(3, 3), 0, 1, 1), "diagonal"),
    (lambda m: m.cross(m.zeros(4, 2), m.zeros(4, 2), dim=1), "cross"),
    (lambda m: m.quantile(m.zeros(4), 1.5), "quantile"),
    (lambda m: m.tensordot(m.zeros(2, 3), m.zeros(4, 5), dims=1), "tensordot"),
    (lambda m: m.movedim(m.zeros(2, 3), (0, 1), (1, 1)), "movedim"),
    (lambda m: m.linalg.inv(m.zeros(2, 3)), "linalg.inv"),
    (lambda m: m.linalg.cholesky(-m.eye(2, dtype=m.float64)), "linalg.cholesky"),
    (lambda m: m.zeros(4).unfold(0, 5, 1), "unfold"),
    (lambda m: m.median(m.zeros(0, 2), 0), "median"),
])
def test_errors_name_the_op_where_torch_raises(call, op):
    with pytest.raises(Exception):
        call(torch)
    with pytest.raises(OpError, match=op):
        call(dg)


@pytest.mark.filterwarnings("ignore")  # PyTorch warns with the forward's traceback
def test_detect_anomaly_raises_on_nan_gradients_as_torch():
    def nan_backward(m):
        x = m.tensor([0.0, 1.0], requires_grad=True)
        (m.sqrt(x) * 0).sum().backward()  # 0 * inf at x = 0
    for m in (torch, dg):
        nan_backward(m)  # off: NaN gradients, no error
        with m.autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
                nan_backward(m)
        nan_backward(m)
    with dg.autograd.detect_anomaly(check_nan=False):
        nan_backward(dg)


def _write_through_views(m):
    x = m.zeros(3, 4, dtype=m.float64)
    x.diagonal(1).fill_(1.0)
    x.unfold(1, 2, 2)[0, 1].add_(5)
    a = m.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    b = a * 1
    b.diagonal(-1).mul_(3)
    (b * b).sum().backward()
    return x.tolist(), b.tolist(), a.grad.tolist()


def test_diagonal_and_unfold_are_views_as_in_torch():
    assert _write_through_views(dg) == _write_through_views(torch)


def test_cross_without_dim_warns_and_takes_the_first_dim_of_size_3():
    a, b = r(3, 3, 2), r(3, 3, 2)
    with pytest.warns(UserWarning, match="dim"):
        got = dg.cross(dg.tensor(a), dg.tensor(b))
    with pytest.warns(UserWarning):
        expected = torch.cross(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
