"""cross_entropy, nll_loss and mse_loss: gradients, NumPy and PyTorch values, errors."""
import numpy as np
import pytest

import distgrad as dg
from test_ops_common import Case, Const, op_tests


def targets(shape, classes, ignore=None):
    def make(rng):
        t = rng.integers(0, classes, size=shape)
        if ignore is not None:
            t[rng.random(shape) < 0.3] = ignore
            t.flat[0] = 0  # at least one target counts
        return t
    return Const(make)


def weights(classes):
    return Const(lambda rng: rng.uniform(0.5, 2.0, classes))


def np_cross_entropy(x, t, w=None):
    logp = x - x.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    w_row = np.ones(len(t)) if w is None else w[t]
    return -(logp[np.arange(len(t)), t] * w_row).sum() / w_row.sum()


CASES = [
    Case("cross_entropy", lambda m, x, t: m.cross_entropy(x, t), [(4, 5), targets(4, 5)], ref=np_cross_entropy),
    Case("cross_entropy_weight", lambda m, x, t, w: m.cross_entropy(x, t, weight=w),
         [(4, 3), targets(4, 3), weights(3)], ref=np_cross_entropy),
    Case("cross_entropy_ignore", lambda m, x, t: m.cross_entropy(x, t, ignore_index=-100),
         [(6, 3), targets(6, 3, ignore=-100)]),
    Case("cross_entropy_ignore_class", lambda m, x, t: m.cross_entropy(x, t, ignore_index=1),
         [(6, 3), targets(6, 3)]),
    Case("cross_entropy_smoothing", lambda m, x, t: m.cross_entropy(x, t, label_smoothing=0.2),
         [(4, 5), targets(4, 5)]),
    Case("cross_entropy_all_options", lambda m, x, t, w: m.cross_entropy(x, t, w, ignore_index=2, label_smoothing=0.1),
         [(6, 4), targets(6, 4, ignore=2), weights(4)]),
    Case("cross_entropy_sum", lambda m, x, t, w: m.cross_entropy(x, t, w, reduction="sum", label_smoothing=0.3),
         [(4, 3), targets(4, 3), weights(3)]),
    Case("cross_entropy_none", lambda m, x, t: m.cross_entropy(x, t, reduction="none", ignore_index=0),
         [(5, 3), targets(5, 3)]),
    Case("cross_entropy_spatial", lambda m, x, t, w: m.cross_entropy(x, t, w, label_smoothing=0.1),
         [(2, 3, 2, 2), targets((2, 2, 2), 3), weights(3)]),
    Case("cross_entropy_single", lambda m, x, t: m.cross_entropy(x, t), [(4,), Const(lambda r: np.array(2))]),
    Case("nll_loss", lambda m, x, t: m.nll_loss(m.log_softmax(x, 1), t), [(4, 3), targets(4, 3)],
         ref=np_cross_entropy),
    Case("nll_loss_weight_ignore", lambda m, x, t, w: m.nll_loss(x, t, w, ignore_index=-1),
         [(6, 3), targets(6, 3, ignore=-1), weights(3)]),
    Case("nll_loss_none", lambda m, x, t: m.nll_loss(x, t, reduction="none"), [(2, 3, 4), targets((2, 4), 3)]),
    Case("nll_loss_sum", lambda m, x, t: m.nll_loss(x, t, reduction="sum"), [(5, 2), targets(5, 2)]),
    Case("mse_loss", lambda m, x, y: m.mse_loss(x, y), [(3, 4), (3, 4)], ref=lambda x, y: ((x - y) ** 2).mean()),
    Case("mse_loss_sum", lambda m, x, y: m.mse_loss(x, y, reduction="sum"), [(5,), (5,)],
         ref=lambda x, y: ((x - y) ** 2).sum()),
    Case("mse_loss_none_const_target", lambda m, x, y: m.mse_loss(x, y, reduction="none"),
         [(2, 3), Const(lambda r: r.standard_normal((2, 3)))], ref=lambda x, y: (x - y) ** 2),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


def test_cross_entropy_errors_name_the_problem():
    x = dg.zeros(4, 3)
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 is out of bounds for 3 classes"):
        dg.cross_entropy(x, dg.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="integer dtype"):
        dg.cross_entropy(x, dg.zeros(4))
    with pytest.raises(ValueError, match=r"target of shape \(4,\), got target of shape \(3,\)"):
        dg.cross_entropy(x, dg.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        dg.nll_loss(x, dg.tensor([0, 1, 2, 0]), reduction="avg")


def test_cross_entropy_of_a_uniform_prediction_is_log_classes():
    loss = dg.cross_entropy(dg.zeros(8, 10), dg.randint(0, 10, (8,)))
    assert loss.dtype == dg.float32
    assert abs(loss.item() - np.log(10)) < 1e-6
