"""layer_norm and batch_norm: gradients, NumPy and PyTorch values, running statistics."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from test_ops_common import Case, Const, op_tests


def np_layer_norm(x, axes, w=None, b=None, eps=1e-5):
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def running(rng, c=3):
    return [Const(lambda r: r.standard_normal(c)), Const(lambda r: r.uniform(0.5, 2.0, c))]


def per_channel(v, ndim):
    return v.reshape((-1,) + (1,) * (ndim - 2))


def np_batch_norm_eval(x, mean, var, w, b, eps=1e-5):
    p = lambda v: per_channel(v, x.ndim)  # noqa: E731
    return (x - p(mean)) / np.sqrt(p(var) + eps) * p(w) + p(b)


CASES = [
    Case("layer_norm", lambda m, x, w, b: m.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)],
         ref=lambda x, w, b: np_layer_norm(x, -1, w, b)),
    Case("layer_norm_plain", lambda m, x: m.layer_norm(x, [3, 4]), [(2, 3, 4)],
         ref=lambda x: np_layer_norm(x, (1, 2))),
    Case("layer_norm_2d_affine", lambda m, x, w, b: m.layer_norm(x, (2, 3), w, b, eps=1e-3),
         [(2, 2, 2, 3), (2, 3), (2, 3)], ref=lambda x, w, b: np_layer_norm(x, (2, 3), w, b, 1e-3)),
    Case("layer_norm_weight_only", lambda m, x, w: m.layer_norm(x, (5,), w), [(2, 5), (5,)],
         ref=lambda x, w: np_layer_norm(x, -1, w)),
    Case("batch_norm_train_1d", lambda m, x, rm, rv, w, b: m.batch_norm(x, rm, rv, w, b, training=True),
         lambda r: [(4, 3)] + running(r) + [(3,), (3,)],
         ref=lambda x, rm, rv, w, b: np_layer_norm(x, 0, w, b)),
    Case("batch_norm_train_2d", lambda m, x, rm, rv, w, b: m.batch_norm(x, rm, rv, w, b, True, 0.2),
         lambda r: [(2, 3, 2, 3)] + running(r) + [(3,), (3,)],
         ref=lambda x, rm, rv, w, b: np_layer_norm(x, (0, 2, 3), w[:, None, None], b[:, None, None])),
    Case("batch_norm_train_3d_no_stats", lambda m, x: m.batch_norm(x, None, None, training=True), [(3, 2, 4)],
         ref=lambda x: np_layer_norm(x, (0, 2))),
    Case("batch_norm_train_bias_only", lambda m, x, b: m.batch_norm(x, None, None, None, b, training=True),
         [(4, 3, 5), (3,)], ref=lambda x, b: np_layer_norm(x, (0, 2), None, b[:, None])),
    Case("batch_norm_eval", lambda m, x, rm, rv, w, b: m.batch_norm(x, rm, rv, w, b, training=False),
         lambda r: [(2, 3, 2, 2)] + running(r) + [(3,), (3,)], ref=np_batch_norm_eval),
    Case("batch_norm_eval_1d", lambda m, x, rm, rv, w, b: m.batch_norm(x, rm, rv, w, b),
         lambda r: [(5, 3)] + running(r) + [(3,), (3,)], ref=np_batch_norm_eval),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4)])
def test_batch_norm_updates_running_stats_in_place_like_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    mean, var = dg.zeros(3), dg.ones(3)
    mean_array = mean.array
    t_mean, t_var = torch.zeros(3), torch.ones(3)
    for _ in range(2):
        F.batch_norm(dg.tensor(x), mean, var, training=True, momentum=0.3)
        torch.nn.functional.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.3)
    assert mean.array is mean_array  # updated in place, so modules' buffers see it
    np.testing.assert_allclose(mean.numpy(), t_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var.numpy(), t_var.numpy(), rtol=1e-5)  # unbiased variance


def test_batch_norm_half_precision_input_is_normalized_in_float32():
    x = np.random.default_rng(0).standard_normal((8, 2, 16)).astype(np.float16) * 100 + 1000
    out = F.batch_norm(dg.tensor(x), None, None, training=True)
    assert out.dtype == dg.float16
    np.testing.assert_allclose(out.numpy().astype(np.float32), np_layer_norm(x.astype(np.float32), (0, 2)),
                               atol=2e-2)


def test_batch_norm_eval_leaves_running_stats_alone():
    mean, var = dg.tensor([0.5, -1.0]), dg.tensor([2.0, 0.5])
    out = F.batch_norm(dg.randn(4, 2), mean, var, training=False)
    assert mean.tolist() == [0.5, -1.0] and var.tolist() == [2.0, 0.5]
    assert out.dtype == dg.float32


def test_normalization_errors():
    with pytest.raises(RuntimeError, match=r"layer_norm: input of shape \(2, 3\).*\(4,\)"):
        dg.layer_norm(dg.zeros(2, 3), (4,))
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean of shape \(4,\).*3 channels"):
        F.batch_norm(dg.zeros(2, 3), dg.zeros(4), dg.ones(4), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(dg.zeros(1, 3), dg.zeros(3), dg.ones(3), training=True)
    with pytest.raises(RuntimeError, match="running_mean and running_var are needed"):
        F.batch_norm(dg.zeros(2, 3), None, None, training=False)
    with pytest.raises(RuntimeError, match=r"layer_norm: weight of shape \(3,\)"):
        dg.layer_norm(dg.zeros(2, 4), 4, weight=dg.ones(3))
