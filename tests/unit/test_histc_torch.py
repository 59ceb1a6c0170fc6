"""histc against PyTorch: given and data-derived ranges, values outside the range and NaN left
out, the last edge included, a single-valued input, counts in the input's dtype; errors."""
import numpy as np
import pytest

import distgrad as dg
from distgrad.errors import OpRuntimeError

torch = pytest.importorskip("torch")

CASES = [([1.0, 2, 1], dict(bins=4, min=0, max=3)), ([1.0, 2, 1, 5, -1], dict(bins=4, min=0, max=3)),
         ([1.0, 2, 1], dict(bins=4)), ([2.0, 2], dict(bins=4)), ([0.0, 3.0], dict(bins=3, min=0, max=3)),
         ([], dict(bins=3)), ([0.1, 0.2, 0.30000001, 0.7, 1.0], dict(bins=10, min=0, max=1)),
         ([1.0, float("nan"), 3.0], dict(bins=2, min=0, max=4))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("values, kwargs", CASES)
def test_histc_matches_torch(values, kwargs, dtype):
    expected = torch.histc(torch.tensor(values, dtype=getattr(torch, dtype)), **kwargs)
    got = dg.histc(dg.tensor(values, dtype=getattr(dg, dtype)), **kwargs)
    assert str(got.dtype) == dtype
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_array_equal(dg.tensor(values, dtype=getattr(dg, dtype)).histc(**kwargs).numpy(),
                                  expected.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_histc_of_random_data_matches_torch(dtype):
    values = np.random.default_rng(0).standard_normal(10_000).astype(dtype)
    for kwargs in (dict(bins=37), dict(bins=10, min=-1, max=1), dict(bins=7, min=-0.3, max=0.9)):
        np.testing.assert_array_equal(dg.histc(dg.tensor(values), **kwargs).numpy(),
                                      torch.histc(torch.tensor(values), **kwargs).numpy())


def test_histc_errors_name_the_op():
    with pytest.raises(OpRuntimeError, match="histc: only floating inputs"):
        dg.histc(dg.tensor([1, 2]))
    with pytest.raises(OpRuntimeError, match="histc: bins must be > 0"):
        dg.histc(dg.tensor([1.0]), bins=0)
    with pytest.raises(OpRuntimeError, match="histc: max must be larger than min"):
        dg.histc(dg.tensor([1.0]), bins=2, min=3, max=1)
