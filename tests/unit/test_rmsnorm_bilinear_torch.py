"""RMSNorm / F.rms_norm and Bilinear / F.bilinear against PyTorch: values and float64
gradients of every input and parameter, PyTorch's initialization bounds, errors."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.nn.functional as F
from distgrad.errors import OpRuntimeError

torch = pytest.importorskip("torch")
rng = np.random.default_rng(0)


def check(ours, theirs, tensors_d, tensors_t):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    w = rng.standard_normal(tuple(theirs.shape))
    (ours * dg.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    for d, t in zip(tensors_d, tensors_t):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, normalized, eps", [((2, 3, 4), (4,), None), ((2, 3, 4), (3, 4), 1e-5),
                                                    ((5,), 5, 1e-3)])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm_matches_torch(shape, normalized, eps, with_weight):
    x = rng.standard_normal(shape)
    norm_shape = (normalized,) if isinstance(normalized, int) else normalized
    w = rng.standard_normal(norm_shape)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    wd, wt = dg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    ours = F.rms_norm(xd, normalized, wd if with_weight else None, eps)
    theirs = torch.nn.functional.rms_norm(xt, norm_shape, wt if with_weight else None, eps)  # ints only there
    check(ours, theirs, [xd] + ([wd] if with_weight else []), [xt] + ([wt] if with_weight else []))


def test_rms_norm_module_as_torchs():
    ours, theirs = nn.RMSNorm(4).double(), torch.nn.RMSNorm(4).double()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert (ours.eps, ours.elementwise_affine) == (theirs.eps, theirs.elementwise_affine)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(ours(dg.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)
    assert nn.RMSNorm(4, elementwise_affine=False).weight is None
    with pytest.raises(OpRuntimeError, match=r"rms_norm: given normalized_shape=\[3\]"):
        F.rms_norm(dg.ones(2, 4), (3,))


@pytest.mark.parametrize("lead", [(5,), (2, 3), ()])
def test_bilinear_matches_torch(lead):
    a, b = rng.standard_normal(lead + (3,)), rng.standard_normal(lead + (4,))
    w, bias = rng.standard_normal((2, 3, 4)), rng.standard_normal(2)
    d = [dg.tensor(v, requires_grad=True) for v in (a, b, w, bias)]
    t = [torch.tensor(v, requires_grad=True) for v in (a, b, w, bias)]
    check(F.bilinear(*d), torch.nn.functional.bilinear(*t), d, t)


def test_bilinear_module_as_torchs():
    dg.manual_seed(0)
    ours = nn.Bilinear(3, 4, 5)
    assert tuple(ours.weight.shape) == (5, 3, 4) and list(ours.state_dict()) == ["weight", "bias"]
    bound = 1 / np.sqrt(3)  # PyTorch's: 1/sqrt(in1_features) for weight and bias
    assert np.abs(ours.weight.detach().numpy()).max() <= bound and np.abs(ours.bias.detach().numpy()).max() <= bound
    assert nn.Bilinear(3, 4, 5, bias=False).bias is None
    assert repr(ours) == repr(torch.nn.Bilinear(3, 4, 5))
    with pytest.raises(OpRuntimeError, match="bilinear: expected"):
        ours(dg.ones(2, 4), dg.ones(2, 4))
