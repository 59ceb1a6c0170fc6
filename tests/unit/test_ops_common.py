"""The shared harness of the op tests, and tests of the harness itself.

An op test is a table of ``Case``s. Each case is one computation written once as
``fn(m, *tensors)``, where ``m`` is the namespace: ``distgrad``, or PyTorch (its
``nn.functional`` first, then ``torch``), or for the NumPy reference a case's own ``ref``.
``op_tests(CASES)`` turns a table into four parametrized tests: backward against finite
differences (float64), forward against NumPy, and values and gradients against PyTorch in
float64 and float32.
"""
import warnings

import numpy as np
import pytest

import distgrad as dg
from distgrad.autograd import gradcheck

SEEDS = (0, 1, 2)
RTOL = {"float64": 1e-5, "float32": 1e-4}


class Positive:
    """A leaf with values in [0.5, 2) (log, sqrt, the base of a power)."""

    def __init__(self, shape):
        self.shape = shape

    def draw(self, rng):
        return rng.uniform(0.5, 2.0, self.shape)


class Const:
    """An input that needs no gradient (targets, masks, indices): ``make(rng) -> array``."""

    def __init__(self, make):
        self.make = make


class Case:
    """``exact_grad=False`` for ops whose gradient is defined to differ from the derivative
    (embedding's padding_idx): those are checked against PyTorch only."""

    def __init__(self, name, fn, inputs, ref=None, torch=True, exact_grad=True):
        self.name, self.fn, self.inputs, self.ref, self.torch = name, fn, inputs, ref, torch
        self.exact_grad = exact_grad

    def arrays(self, seed):
        """(array, needs_grad) per input; shapes may themselves be drawn from the seed."""
        rng = np.random.default_rng(seed)
        specs = self.inputs(rng) if callable(self.inputs) else self.inputs
        out = []
        for spec in specs:
            if isinstance(spec, Const):
                out.append((np.asarray(spec.make(rng)), False))
            elif isinstance(spec, Positive):
                out.append((spec.draw(rng), True))
            else:
                out.append((rng.standard_normal(spec), True))
        return out

    def __repr__(self):
        return self.name


def broadcast_pair(rng, max_ndim=3):
    """Two random shapes that broadcast against each other (dims dropped or set to 1)."""
    shape = tuple(int(s) for s in rng.integers(1, 4, size=rng.integers(1, max_ndim + 1)))
    other = [1 if rng.random() < 0.3 else s for s in shape][rng.integers(0, len(shape)):]
    first = [1 if rng.random() < 0.2 else s for s in shape]
    return tuple(first), tuple(other)


def _as(array, dtype):
    """Floating inputs take the tested dtype; integer and bool constants keep theirs."""
    return array.astype(dtype) if array.dtype.kind == "f" else array


def dg_inputs(arrays, dtype="float64"):
    return [dg.tensor(_as(a, dtype), requires_grad=grad) for a, grad in arrays]


def torch_inputs(torch, arrays, dtype="float64"):
    return [torch.tensor(_as(a, dtype), requires_grad=grad) for a, grad in arrays]


class FunctionalFirst:
    """A library with its ``nn.functional`` first, so one lambda serves distgrad and PyTorch
    (their top-level batch_norm/embedding differ from the functional ones)."""

    def __init__(self, library):
        import importlib
        self._library = library
        self._functional = importlib.import_module(library.__name__ + ".nn.functional")

    def __getattr__(self, name):
        return getattr(self._functional, name, None) or getattr(self._library, name)


TorchAPI = FunctionalFirst
DG = FunctionalFirst(dg)


def outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def assert_close(got, want, rtol, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_gradients(case, seed):
    tensors = dg_inputs(case.arrays(seed))
    assert gradcheck(lambda *ts: case.fn(DG, *ts), tensors)


def check_numpy(case, seed):
    arrays = case.arrays(seed)
    got = outputs(case.fn(DG, *dg_inputs(arrays)))
    want = outputs(case.ref(*[a for a, _ in arrays]))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g.detach().numpy(), np.asarray(w, dtype=g.dtype), RTOL["float64"], case.name)


def check_torch(case, seed, dtype):
    torch = pytest.importorskip("torch")
    arrays = case.arrays(seed)
    ours, theirs = dg_inputs(arrays, dtype), torch_inputs(torch, arrays, dtype)
    got = outputs(case.fn(DG, *ours))
    with warnings.catch_warnings():  # PyTorch's performance notes are not our concern here
        warnings.simplefilter("ignore", UserWarning)
        want = outputs(case.fn(TorchAPI(torch), *theirs))
    assert len(got) == len(want), f"{case.name}: {len(got)} outputs, PyTorch gives {len(want)}"
    rtol = RTOL[dtype]
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g.detach().numpy(), w.detach().numpy(), rtol, f"{case.name} output {i}")
    rng = np.random.default_rng(seed + 100)
    pairs = [(g, w, rng.standard_normal(w.shape).astype(dtype)) for g, w in zip(got, want) if w.requires_grad]
    if not pairs:
        return
    dg.autograd.backward([g for g, _, _ in pairs], [dg.tensor(s) for _, _, s in pairs])
    torch.autograd.backward([w for _, w, _ in pairs], [torch.tensor(s) for _, _, s in pairs])
    for i, (t_ours, t_theirs) in enumerate(zip(ours, theirs)):
        if t_theirs.requires_grad:
            want_grad = np.zeros(t_theirs.shape, dtype) if t_theirs.grad is None else t_theirs.grad.numpy()
            got_grad = np.zeros(t_ours.shape, dtype) if t_ours.grad is None else t_ours.grad.numpy()
            assert_close(got_grad, want_grad, rtol, f"{case.name} gradient of input {i}")


def op_tests(cases):
    """The four standard tests over a table of cases, for a test module to bind."""
    exact = [c for c in cases if c.exact_grad]
    with_ref = [c for c in cases if c.ref is not None]
    with_torch = [c for c in cases if c.torch]

    @pytest.mark.parametrize("seed", SEEDS)
    @pytest.mark.parametrize("case", exact, ids=[c.name for c in exact])
    def test_gradcheck(case, seed):
        check_gradients(case, seed)

    @pytest.mark.parametrize("case", with_ref, ids=[c.name for c in with_ref])
    def test_matches_numpy(case):
        check_numpy(case, 0)

    @pytest.mark.parametrize("dtype", ["float64", "float32"])
    @pytest.mark.parametrize("seed", SEEDS)
    @pytest.mark.parametrize("case", with_torch, ids=[c.name for c in with_torch])
    def test_matches_torch(case, seed, dtype):
        check_torch(case, seed, dtype)

    return test_gradcheck, test_matches_numpy, test_matches_torch


# ---------------------------------------------------------------- the harness itself

class _WrongSquare(dg.autograd.Function):
    def forward(self, xp, x):
        self.x = x
        return x * x

    def backward(self, xp, g):
        return (g * self.x,)  # should be 2 * g * x


def test_gradcheck_catches_a_wrong_backward():
    x = dg.tensor(np.random.default_rng(0).standard_normal(4), requires_grad=True)
    with pytest.raises(AssertionError, match="differs"):
        gradcheck(lambda t: _WrongSquare.apply(t), [x])
    assert gradcheck(lambda t: t * t, [x])


def test_torch_comparison_catches_a_wrong_value():
    pytest.importorskip("torch")
    wrong = Case("wrong", lambda m, a: a * 2 if m is DG else a * 2.001, [(3,)])
    with pytest.raises(AssertionError):
        check_torch(wrong, 0, "float64")


@pytest.mark.parametrize("seed", range(20))
def test_broadcast_pair_broadcasts(seed):
    a, b = broadcast_pair(np.random.default_rng(seed))
    np.broadcast_shapes(a, b)  # raises when they don't


def test_gradcheck_nudges_non_contiguous_inputs():
    base = np.random.default_rng(0).standard_normal((3, 4))
    x = dg.from_numpy(base.T)  # a transposed, non-contiguous view
    x.requires_grad_()
    assert not x.is_contiguous()
    assert gradcheck(lambda t: (t * t).sum(1), [x])
