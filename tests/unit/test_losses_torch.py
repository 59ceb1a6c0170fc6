"""The extra losses (BCE, BCE with logits, L1, smooth L1, Huber, KL divergence, cosine
embedding, margin ranking) against PyTorch: values and float64 gradients, edge values
included, argument errors, and the nn Modules."""
import warnings

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RED = ["mean", "sum", "none"]
rng = np.random.default_rng(0)


def compare(fn_d, fn_t, arrays, grad=(0, 1)):
    dt = [dg.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    tt = [torch.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    od, ot = fn_d(*dt), fn_t(*tt)
    assert tuple(od.shape) == tuple(ot.shape)
    np.testing.assert_allclose(np.asarray(od.array), ot.detach().numpy(), rtol=1e-12, atol=1e-14, equal_nan=True)
    w = rng.standard_normal(tuple(ot.shape))
    (od * dg.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    for i in grad:
        np.testing.assert_allclose(np.asarray(dt[i].grad.array), tt[i].grad.numpy(), rtol=1e-12, atol=1e-14,
                                   equal_nan=True, err_msg=f"gradient of input {i}")


PROBS = rng.random((3, 4))
PROBS[0, :2] = [0.0, 1.0]  # the clamped logs and the floored gradient
TARGET = rng.random((3, 4))
TARGET[0, 2] = 0.0
LOGITS = rng.standard_normal((3, 4)) * 5
LOGITS[0, :3] = [0.0, 800.0, -800.0]  # softplus at its kink, and far beyond exp's range


@pytest.mark.parametrize("reduction", RED)
def test_binary_cross_entropy(reduction):
    w = rng.random(4) + 0.5
    compare(lambda x, t, w: F.binary_cross_entropy(x, t, w, reduction=reduction),
            lambda x, t, w: TF.binary_cross_entropy(x, t, w, reduction=reduction), [PROBS, TARGET, w])
    assert float(nn.BCELoss()(dg.tensor(PROBS), dg.tensor(TARGET))) == pytest.approx(
        float(torch.nn.BCELoss()(torch.tensor(PROBS), torch.tensor(TARGET))), rel=1e-12)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_with_logits(reduction, weighted):
    extra = [rng.random(4) + 0.5, rng.random(4) * 3] if weighted else []
    if weighted:
        compare(lambda x, t, w, p: F.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=p),
                lambda x, t, w, p: TF.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=p),
                [LOGITS, TARGET] + extra)
    else:
        compare(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
                lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction), [LOGITS, TARGET])
    pw = rng.random(4) + 0.5
    d = nn.BCEWithLogitsLoss(pos_weight=dg.tensor(pw))(dg.tensor(LOGITS), dg.tensor(TARGET))
    t = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))(torch.tensor(LOGITS), torch.tensor(TARGET))
    assert float(d) == pytest.approx(float(t), rel=1e-12)


DIFF_A = np.array([[0.0, 1.0, -1.0, 2.0, np.inf], [0.5, -0.5, 3.0, -np.inf, 0.25]])
DIFF_B = np.array([[0.0, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0, 0.75]])  # ties at 0 and at the bound


@pytest.mark.parametrize("reduction", RED)
def test_l1_smooth_l1_huber(reduction):
    compare(lambda a, b: F.l1_loss(a, b, reduction=reduction),
            lambda a, b: TF.l1_loss(a, b, reduction=reduction), [DIFF_A, DIFF_B])
    for beta in [1.0, 0.5, 2.0, 0.0]:
        compare(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta), [DIFF_A, DIFF_B])
        compare(lambda a, b: nn.SmoothL1Loss(reduction=reduction, beta=beta)(a, b),
                lambda a, b: torch.nn.SmoothL1Loss(reduction=reduction, beta=beta)(a, b), [DIFF_A, DIFF_B])
        if beta:
            compare(lambda a, b: nn.HuberLoss(reduction=reduction, delta=beta)(a, b),
                    lambda a, b: torch.nn.HuberLoss(reduction=reduction, delta=beta)(a, b), [DIFF_A, DIFF_B])
    compare(lambda a, b: nn.L1Loss(reduction=reduction)(a, b),
            lambda a, b: torch.nn.L1Loss(reduction=reduction)(a, b), [DIFF_A, DIFF_B[:1]])


@pytest.mark.parametrize("reduction", RED + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logp = np.log(rng.random((3, 4)))
    target = rng.random((3, 4))
    target[0, 0] = 0.0  # 0 log 0 = 0 (its gradient is NaN in both)
    if log_target:
        target = np.log(target)
    with pytest.warns(UserWarning) if reduction == "mean" else _nothing():
        compare(lambda x, t: nn.KLDivLoss(reduction=reduction, log_target=log_target)(x, t),
                lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target), [logp, target])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.3])
def test_cosine_embedding_and_margin_ranking(reduction, margin):
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    a[4, 0] = np.inf  # a NaN cosine where the target (0) selects neither term: 0, as PyTorch's
    y = np.array([1.0, -1.0, 1.0, -1.0, 0.0])
    compare(lambda p, q, r: nn.CosineEmbeddingLoss(margin, reduction=reduction)(p, q, r),
            lambda p, q, r: TF.cosine_embedding_loss(p, q, r, margin=margin, reduction=reduction), [a, b, y])
    compare(lambda p, q, r: nn.MarginRankingLoss(margin, reduction=reduction)(p, q, r),
            lambda p, q, r: TF.margin_ranking_loss(p, q, r, margin=margin, reduction=reduction),
            [a[:4, 0], b[:4, 0], y[:4]], grad=(0, 1, 2))
    compare(lambda p, q, r: F.cosine_embedding_loss(p, q, r, margin=margin, reduction=reduction),
            lambda p, q, r: TF.cosine_embedding_loss(p, q, r, margin=margin, reduction=reduction),
            [a[0], b[0], np.array(-1.0)])


@pytest.mark.parametrize("call", [
    lambda m, x: m.binary_cross_entropy(x.sigmoid(), x.sigmoid()[:1]),            # target shape
    lambda m, x: m.binary_cross_entropy(x, x.sigmoid()),                         # input outside [0, 1]
    lambda m, x: m.binary_cross_entropy(x.sigmoid(), x),                         # target outside [0, 1]
    lambda m, x: m.binary_cross_entropy_with_logits(x, x[:1]),
    lambda m, x: m.binary_cross_entropy(x.sigmoid(), x.sigmoid(), reduction="batchmean"),
    lambda m, x: m.l1_loss(x, x, reduction="bogus"),
    lambda m, x: m.smooth_l1_loss(x, x, beta=-1.0),
    lambda m, x: m.huber_loss(x, x, delta=0.0),
    lambda m, x: m.kl_div(x, x, reduction="bogus"),
    lambda m, x: m.cosine_embedding_loss(x, x, x),                               # target of the inputs' dims
    lambda m, x: m.margin_ranking_loss(x, x[0], x),
])
def test_argument_errors_as_pytorch(call):
    x = np.array([[-1.0, 0.5], [2.0, 0.25]])
    with pytest.raises(Exception) as t:
        call(TF, torch.tensor(x))
    with pytest.raises(type(t.value)) as e:  # the same class as PyTorch's error
        call(F, dg.tensor(x))
    assert str(e.value).split(":")[0] in ("binary_cross_entropy", "binary_cross_entropy_with_logits", "l1_loss",
                                          "smooth_l1_loss", "huber_loss", "kl_div", "cosine_embedding_loss",
                                          "margin_ranking_loss")


@pytest.mark.parametrize("reduction", RED)
def test_elementwise_weights_of_l1_and_huber(reduction):
    """l1_loss's weighted mean divides by the weights' sum, huber_loss's by the count, as PyTorch's."""
    w = rng.random(DIFF_A.shape) + 0.5
    for name in ("l1_loss", "huber_loss"):
        compare(lambda a, b, w: getattr(F, name)(a, b, reduction=reduction, weight=w),
                lambda a, b, w: getattr(TF, name)(a, b, reduction=reduction, weight=w), [DIFF_A, DIFF_B, w],
                grad=(0, 1, 2))
        with pytest.raises(ValueError, match=name):
            getattr(F, name)(dg.tensor(DIFF_A), dg.tensor(DIFF_B), weight=dg.tensor(w[0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_far_logits_give_pytorchs_gradient_without_overflow_warnings(dtype):
    x, t = np.array([-800.0, -100.0, 0.0, 100.0, 800.0], dtype), np.array([1.0, 0.0, 0.5, 1.0, 0.0], dtype)
    d = dg.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.binary_cross_entropy_with_logits(d, dg.tensor(t)).backward()
    tt = torch.tensor(x, requires_grad=True)
    TF.binary_cross_entropy_with_logits(tt, torch.tensor(t)).backward()
    np.testing.assert_allclose(d.grad.numpy(), tt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32")])
def test_result_dtypes_with_mixed_operands_as_pytorch(dtypes):
    """BCE wants one dtype; BCE with logits takes the target's; the L1 family promotes even a
    0-d target (it broadcasts first); huber keeps the input's; weights never change it."""
    a = rng.random((2, 3))
    x, t = dg.tensor(a.astype(dtypes[0])), dg.tensor(a.astype(dtypes[1]))
    tx, tt = torch.tensor(a.astype(dtypes[0])), torch.tensor(a.astype(dtypes[1]))
    with pytest.raises(RuntimeError, match="binary_cross_entropy"):
        F.binary_cross_entropy(x, t)
    for name in ("binary_cross_entropy_with_logits", "l1_loss", "smooth_l1_loss", "huber_loss"):
        for red in ("none", "mean"):
            assert str(getattr(F, name)(x, t, reduction=red).dtype) == \
                str(getattr(TF, name)(tx, tt, reduction=red).dtype).replace("torch.", ""), (name, red)
    assert str(F.l1_loss(x, t[0, 0]).dtype) == str(TF.l1_loss(tx, tt[0, 0]).dtype).replace("torch.", "")
    w = a[0].astype(dtypes[1])
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        d = getattr(F, name)(x, x, weight=dg.tensor(w))
        assert str(d.dtype) == str(getattr(TF, name)(tx, tx, weight=torch.tensor(w)).dtype).replace("torch.", "")


def test_cosine_embedding_of_a_zero_vector_uses_pytorchs_float32_epsilon():
    a, b = rng.standard_normal((2, 3)), np.zeros((2, 3))
    compare(lambda p, q, r: F.cosine_embedding_loss(p, q, r), lambda p, q, r: TF.cosine_embedding_loss(p, q, r),
            [a, b, np.array([1.0, 1.0])], grad=(0, 1))


def test_huber_checks_reduction():
    with pytest.raises(ValueError, match="huber_loss"):
        F.huber_loss(dg.ones(2), dg.ones(2), reduction="bogus")


@pytest.mark.parametrize("name,kw", [("binary_cross_entropy", "weight"), ("binary_cross_entropy_with_logits", "weight"),
                                     ("binary_cross_entropy_with_logits", "pos_weight")])
def test_bce_weights_requiring_grad_raise_as_pytorch(name, kw):
    x = rng.random((2, 3))
    with pytest.raises(RuntimeError, match="not differentiable"):
        getattr(TF, name)(torch.tensor(x), torch.tensor(x), **{kw: torch.ones(3, dtype=torch.float64,
                                                                                requires_grad=True)})
    with pytest.raises(RuntimeError, match=f"{name}: not differentiable with respect to {kw}"):
        getattr(F, name)(dg.tensor(x), dg.tensor(x), **{kw: dg.ones(3, dtype=dg.float64, requires_grad=True)})


def test_bce_with_logits_target_gradient_at_infinite_logits_with_pos_weight():
    x = np.array([[-np.inf, np.inf, -800.0, 0.0]])
    t = np.array([[0.3, 0.6, 0.5, 0.2]])
    pw = np.array([0.5, 2.0, 0.9, 1.5])
    compare(lambda a, b, p: F.binary_cross_entropy_with_logits(a, b, pos_weight=p, reduction="none"),
            lambda a, b, p: TF.binary_cross_entropy_with_logits(a, b, pos_weight=p, reduction="none"), [x, t, pw],
            grad=(1,))


def test_positional_arguments_land_where_pytorch_puts_them():
    # cross_entropy/nll_loss/mse_loss keep PyTorch's deprecated size_average and reduce in their
    # positional order: a fourth positional argument is size_average, not ignore_index
    x, y = np.random.default_rng(0).standard_normal((4, 3)), np.array([0, 1, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecation warnings
        for lib in (torch, dg):
            F = lib.nn.functional
            X, Y = lib.tensor(x), lib.tensor(y)
            got = [float(F.cross_entropy(X, Y, None, False)), float(F.nll_loss(F.log_softmax(X, 1), Y, None, None, 1)),
                   float(F.mse_loss(X, X * 2, False)), tuple(F.cross_entropy(X, Y, reduce=False).shape)]
            if lib is torch:
                expected = got
    np.testing.assert_allclose(got[:3], expected[:3], rtol=1e-12)
    assert got[3] == expected[3] == (4,)


def test_functional_softmaxes_take_dtype_fourth_as_pytorchs():
    x = np.random.default_rng(1).standard_normal((2, 3))
    for name in ("softmax", "log_softmax", "softmin"):
        got = getattr(F, name)(dg.tensor(x), 1, 3, dg.float32)
        expected = getattr(TF, name)(torch.tensor(x), 1, 3, torch.float32)
        assert str(got.dtype) == "float32" and expected.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
