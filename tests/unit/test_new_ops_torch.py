"""The trig/log, triangular, ordering and repeating ops, Tensor.__format__ and the in-place
initializers, against PyTorch: values and float64 gradients, plus gradcheck."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import distgrad as dg  # noqa: E402
from distgrad.autograd import gradcheck  # noqa: E402
from distgrad.errors import OpError  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
POS = RNG.random((3, 4)) + 0.5
DISTINCT = RNG.permutation(12).reshape(3, 4) - 5.5

# name: (call(m, x), input)
CASES = {
    "sin": (lambda m, x: m.sin(x), X),
    "cos": (lambda m, x: x.cos(), X),
    "tan": (lambda m, x: m.tan(x), X * 0.5),
    "atan": (lambda m, x: x.atan(), X),
    "sinh": (lambda m, x: m.sinh(x), X),
    "cosh": (lambda m, x: x.cosh(), X),
    "expm1": (lambda m, x: m.expm1(x), X),
    "log1p": (lambda m, x: x.log1p(), POS),
    "log2": (lambda m, x: m.log2(x), POS),
    "log10": (lambda m, x: x.log10(), POS),
    "atan2": (lambda m, x: m.atan2(x, x.flip(0) + 0.1), X),
    "tril": (lambda m, x: m.tril(x, -1), X),
    "triu": (lambda m, x: x.triu(1), X),
    "diag(matrix)": (lambda m, x: m.diag(x, 1), X),
    "diag(vector)": (lambda m, x: x[0].diag(-1), X),
    "trace": (lambda m, x: x.trace(), X),
    "narrow": (lambda m, x: m.narrow(x, 1, -3, 2), X),
    "flip": (lambda m, x: x.flip(0, 1), X),
    "roll": (lambda m, x: m.roll(x, (1, -2), (0, 1)), X),
    "roll(flat)": (lambda m, x: x.roll(5), X),
    "repeat": (lambda m, x: x.repeat(2, 1, 3), X),
    "tile": (lambda m, x: m.tile(x, (2,)), X),
    "repeat_interleave": (lambda m, x: x.repeat_interleave(2, dim=1), X),
    "repeat_interleave(tensor)": (lambda m, x: m.repeat_interleave(x, m.tensor([1, 0, 3]), dim=0), X),
    "sort": (lambda m, x: m.sort(x, dim=0, descending=True), DISTINCT),
    "argsort": (lambda m, x: x * x.argsort(dim=1), DISTINCT),
    "topk": (lambda m, x: m.topk(x, 2, dim=1), DISTINCT),
    "topk(smallest)": (lambda m, x: x.topk(3, dim=0, largest=False), DISTINCT),
    "cumsum": (lambda m, x: m.cumsum(x, 1), X),
    "cumprod": (lambda m, x: x.cumprod(dim=0), X),
    "cumprod(zeros)": (lambda m, x: m.cumprod(x * m.tensor([[1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 0, 1]]), 1), X),
    "logsumexp": (lambda m, x: m.logsumexp(x, 1), X * 30),
    "logsumexp(keepdim)": (lambda m, x: x.logsumexp((0, 1), keepdim=True), X),
    "lerp": (lambda m, x: m.lerp(x, x.flip(0), 0.75), X),
    "lerp(tensor weight)": (lambda m, x: x.lerp(x.flip(1), x.sigmoid()), X),
    "addmm": (lambda m, x: m.addmm(x[0], x, x.t(), beta=0.5, alpha=2)[:, :3], X[:, :3].repeat(1, 1)),
    "addmm(beta=0)": (lambda m, x: x[:, :3].addmm(x, x.t()[:, :3], beta=0), X),
    "erf": (lambda m, x: m.erf(x * 2), X),
    "erfinv": (lambda m, x: x.erfinv(), np.tanh(X) * 0.999),
}


def _run(m, call, array):
    x = m.tensor(array, dtype=m.float64, requires_grad=True)
    out = call(m, x)
    outs = list(out) if isinstance(out, tuple) else [out]
    floats = [o for o in outs if o.dtype == m.float64]
    weights = [np.random.default_rng(o.numel()).standard_normal(tuple(o.shape)) for o in floats]
    sum(((o * m.tensor(w)).sum() for o, w in zip(floats, weights))).backward()
    return [np.asarray(o.detach().numpy()) for o in outs], np.asarray(x.grad.numpy())


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name):
    call, array = CASES[name]
    (touts, tgrad), (gouts, ggrad) = _run(torch, call, array), _run(dg, call, array)
    assert len(touts) == len(gouts)
    for t, g in zip(touts, gouts):
        assert t.dtype == g.dtype and t.shape == g.shape
        np.testing.assert_allclose(g, t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ggrad, tgrad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in CASES if n not in ("argsort",)])
def test_gradcheck(name):
    call, array = CASES[name]
    x = dg.tensor(array, dtype=dg.float64, requires_grad=True)

    def first_float(x):
        out = call(dg, x)
        return out[0] if isinstance(out, tuple) else out
    assert gradcheck(first_float, [x])


@pytest.mark.parametrize("name,call", [
    ("sin(int)", lambda m: m.sin(m.tensor([1, 2]))),
    ("log2(bool)", lambda m: m.log2(m.tensor([True, False]))),
    ("atan2(0-d float64, int)", lambda m: m.atan2(m.tensor(0.5, dtype=m.float64), m.tensor([1, 2]))),
    ("sort(nan, descending)", lambda m: m.sort(m.tensor([1.0, float("nan"), 3.0, 1.0]), descending=True)),
    ("sort(nan)", lambda m: m.sort(m.tensor([[1.0, float("nan"), -3.0, 1.0]]))),
    ("sort(0-d)", lambda m: m.sort(m.tensor(2.0))),
    ("topk(0-d, 0)", lambda m: m.topk(m.tensor(2.0), 0)),
    ("tril(bool)", lambda m: m.tril(m.ones(2, 3, 3, dtype=m.bool))),
    ("trace(int)", lambda m: m.trace(m.tensor([[1, 2], [3, 4]]))),
    ("addmm(beta=0, NaN input)", lambda m: m.addmm(m.full((2, 2), float("nan")), m.ones(2, 3), m.ones(3, 2), beta=0)),
    ("erfinv(edges)", lambda m: m.erfinv(m.tensor([1.0, -1.0, 1.5, float("nan"), 1e-300, -0.0, 1 - 1e-15, 0.5],
                                                  dtype=m.float64))),
    ("erf(edges)", lambda m: m.erf(m.tensor([float("inf"), -float("inf"), float("nan"), -0.0, 1e-300, 6.0]))),
    ("cumsum(bool)", lambda m: m.cumsum(m.tensor([True, False, True]), 0)),
    ("cumprod(int32)", lambda m: m.cumprod(m.tensor([2, 3, 4], dtype=m.int32), 0)),
    ("logsumexp(-inf)", lambda m: m.logsumexp(m.tensor([[-float("inf")] * 2, [float("inf"), 1.0]]), 1)),
])
def test_dtypes_and_edges(name, call):
    t, g = call(torch), call(dg)
    touts, gouts = (list(t), list(g)) if isinstance(t, tuple) else ([t], [g])
    for a, b in zip(touts, gouts):
        assert str(a.dtype).replace("torch.", "") == np.dtype(b.dtype).name
        np.testing.assert_allclose(np.asarray(b.numpy()), a.numpy(), rtol=1e-6)  # float32 ulps


def test_atan2_gradient_at_origin_is_zero():
    a = dg.tensor([0.0, 1.0], dtype=dg.float64, requires_grad=True)
    b = dg.tensor([0.0, 0.0], dtype=dg.float64, requires_grad=True)
    dg.atan2(a, b).sum().backward()
    ta = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    torch.atan2(ta, tb).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


@pytest.mark.parametrize("call", [
    lambda m: m.tril(m.ones(3)),
    lambda m: m.trace(m.ones(3)),
    lambda m: m.narrow(m.ones(3), 0, 2, 2),
    lambda m: m.topk(m.ones(3), 4),
    lambda m: m.flip(m.ones(3), 0),
    lambda m: m.roll(m.tensor(1.0), 1, 0),
    lambda m: m.ones(3).repeat(),
    lambda m: m.ones(2, 3).repeat(2),
])
def test_errors_as_torch(call):
    with pytest.raises(Exception):
        call(torch)
    with pytest.raises(OpError):
        call(dg)


def test_narrow_is_a_view():
    for m in (torch, dg):
        x = m.zeros(4)
        x.narrow(0, 1, 2).fill_(1.0)
        assert x.tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("spec", [".2f", ".3e", "", "8.1f"])
def test_format_0d(spec):
    for v in (56.0, 1.23456, -0.5):
        assert format(dg.tensor(v), spec) == format(torch.tensor(v), spec)
    assert format(dg.tensor(3), "04d") == format(torch.tensor(3), "04d")
    assert f"{dg.tensor(2.5, requires_grad=True) * 2:.1f}" == "5.0"


def test_format_of_a_non_scalar_tensor():
    assert f"{dg.ones(2)}" == str(dg.ones(2))
    with pytest.raises(TypeError):
        format(torch.ones(2), ".2f")
    with pytest.raises(TypeError):
        format(dg.ones(2), ".2f")


@pytest.mark.parametrize("name,args", [("uniform_", (-2.0, 3.0)), ("normal_", (1.0, 0.5))])
def test_inplace_initializers(name, args):
    dg.manual_seed(0)
    x = getattr(dg.zeros(1000, dtype=dg.float64), name)(*args)
    assert x.dtype == dg.float64
    v = x.numpy()
    if name == "uniform_":
        assert v.min() >= args[0] and v.max() < args[1]
    else:
        assert abs(v.mean() - args[0]) < 0.1 and abs(v.std() - args[1]) < 0.1
    dg.manual_seed(0)
    assert np.array_equal(getattr(dg.zeros(1000, dtype=dg.float64), name)(*args).numpy(), v)  # seeded
    # a leaf that requires grad: refused in grad mode, filled under no_grad, as PyTorch's
    for m in (torch, dg):
        w = m.zeros(3, requires_grad=True)
        with pytest.raises(RuntimeError):
            getattr(w, name)()
        with m.no_grad():
            getattr(w, name)()
        assert w.requires_grad and w.grad_fn is None
    # through a non-leaf, the overwritten values get no gradient
    for m in (torch, dg):
        w = m.ones(3, requires_grad=True)
        y = w * 2
        getattr(y, name)()
        y.sum().backward()
        assert w.grad.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(OpError):
        getattr(dg.zeros(3, dtype=dg.int64), name)()


@pytest.mark.parametrize("value", [56.0, 1.5, 0.123456, 1e-5, 123456789.0, float("nan"), -0.0, 3, [1.0, 2.5],
                                   [[1.0, -2.0], [300.0, 4.0]], [1e-5, 1.0], [float("inf"), 1.5, float("nan")],
                                   [1e9, 1.0], [2.0, float("-inf")], [[0.1234567, 12.5], [3.0, 4.0]]])
def test_repr_and_str_of_floats_as_torch(value):
    assert repr(dg.tensor(value)) == repr(torch.tensor(value))
    assert str(dg.tensor(value)) == str(torch.tensor(value))
    assert f"{dg.tensor(value)}" == f"{torch.tensor(value)}"
