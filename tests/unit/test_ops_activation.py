"""Activations and (log-)softmax: gradients, NumPy and PyTorch values."""
import math

import numpy as np

from test_ops_common import Case, op_tests

_erf = np.vectorize(math.erf)


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


CASES = [
    Case("relu", lambda m, a: m.relu(a), [(3, 4)], ref=lambda a: np.maximum(a, 0)),
    Case("leaky_relu", lambda m, a: m.leaky_relu(a, 0.2), [(3, 4)], ref=lambda a: np.where(a > 0, a, 0.2 * a)),
    Case("gelu", lambda m, a: m.gelu(a), [(2, 5)], ref=lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2)))),
    Case("gelu_tanh", lambda m, a: m.gelu(a, approximate="tanh"), [(2, 5)],
         ref=lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))),
    Case("gelu_wide", lambda m, a: m.gelu(a * 4), [(12,)],
         ref=lambda a: 2 * a * (1 + _erf(4 * a / math.sqrt(2)))),
    Case("sigmoid", lambda m, a: m.sigmoid(a), [(4, 2)], ref=lambda a: 1 / (1 + np.exp(-a))),
    Case("tanh", lambda m, a: m.tanh(a), [(4, 2)], ref=np.tanh),
    Case("softmax_last", lambda m, a: m.softmax(a, dim=-1), [(3, 5)], ref=lambda a: np_softmax(a, -1)),
    Case("softmax_dim0", lambda m, a: m.softmax(a, 0), [(3, 2, 2)], ref=lambda a: np_softmax(a, 0)),
    Case("log_softmax", lambda m, a: m.log_softmax(a, dim=1), [(2, 4, 3)],
         ref=lambda a: np.log(np_softmax(a, 1))),
    Case("softmax_method", lambda m, a: (a * 10).softmax(-1), [(2, 6)], ref=lambda a: np_softmax(a * 10, -1)),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


def test_softmax_is_stable_for_large_inputs():
    import distgrad as dg
    out = dg.softmax(dg.tensor([[1000.0, 1000.0, -1000.0]]), dim=1)
    assert np.allclose(out.numpy(), [[0.5, 0.5, 0.0]])
    logp = dg.log_softmax(dg.tensor([[1000.0, 0.0]]), dim=1)
    assert np.isfinite(logp.numpy()).all()
    assert dg.sigmoid(dg.tensor([-1000.0, 1000.0])).tolist() == [0.0, 1.0]
