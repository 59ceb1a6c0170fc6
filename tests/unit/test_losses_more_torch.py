"""The margin and likelihood losses (triplet margin, Poisson and Gaussian NLL, hinge embedding,
soft margin, multi-label soft margin, multi-class and multi-label margin) against PyTorch:
float64 values and gradients for every reduction, edge values, argument errors and the Modules."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.nn.functional as F

torch = pytest.importorskip("torch")
from test_losses_torch import compare as compare_losses  # noqa: E402 (after the skip)
TF = torch.nn.functional

RED = ["mean", "sum", "none"]
rng = np.random.default_rng(0)


def compare(fn_d, fn_t, arrays, grad=(0,)):
    """Values and gradients of the arguments numbered in ``grad``, distgrad against PyTorch."""
    compare_losses(fn_d, fn_t, arrays, grad)


def both(name, *args, **kwargs):
    """The same functional call on both libraries."""
    return (lambda *a: getattr(F, name)(*a, *args, **kwargs)), (lambda *a: getattr(TF, name)(*a, *args, **kwargs))


X = rng.standard_normal((4, 5))
Y = rng.standard_normal((4, 5))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("p, swap", [(2, False), (1, True), (3.0, False)])
def test_triplet_margin_loss(reduction, p, swap):
    a, pos, neg = X, X + 0.1 * Y, rng.standard_normal((4, 5))
    neg[0] = a[0] + 0.2  # a hinge that is 0
    compare(*both("triplet_margin_loss", margin=0.7, p=p, swap=swap, reduction=reduction), [a, pos, neg],
            grad=(0, 1, 2))
    compare(*both("triplet_margin_loss", reduction=reduction), [a[0], pos[0], neg[1]], grad=(0, 1, 2))  # 1-D


def test_triplet_margin_loss_positional_legacy_flags():
    compare(lambda a, b, c: F.triplet_margin_loss(a, b, c, 1.5, 1, 1e-3, True, None, False),
            lambda a, b, c: TF.triplet_margin_loss(a, b, c, 1.5, 1, 1e-3, True, None, False), [X, Y, -X],
            grad=(0, 1, 2))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss(reduction, log_input, full):
    x = X if log_input else np.abs(X) + np.array([0.0, 0.1, 1.0, 2.0, 3.0])  # 0: only eps keeps log finite
    target = rng.poisson(2.0, size=(4, 5)).astype(np.float64) + np.array([0.0, 1.0, 0.5, 1.5, 7.0])
    compare(*both("poisson_nll_loss", log_input, full, reduction=reduction, eps=1e-6), [x, target], grad=(0, 1))
    compare(*both("poisson_nll_loss", log_input, full, reduction=reduction), [x, target[0]], grad=(0, 1))


def test_poisson_nll_loss_positional_order():
    t = np.abs(Y) * 3
    compare(lambda x, t: F.poisson_nll_loss(x, t, False, True, None, 0.5, False),
            lambda x, t: TF.poisson_nll_loss(x, t, False, True, None, 0.5, False), [np.abs(X), t], grad=(0, 1))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(4, 5), (4,), (4, 1), (1, 5)])
def test_gaussian_nll_loss(reduction, full, var_shape):
    var = rng.random(var_shape) + 0.1
    var.flat[0] = 1e-9  # clamped to eps: the gradient still reaches var
    compare(*both("gaussian_nll_loss", full=full, reduction=reduction, eps=1e-4), [X, Y, var], grad=(0, 1, 2))


def test_gaussian_nll_loss_number_var_and_positional_order():
    compare(lambda x, t: F.gaussian_nll_loss(x, t, 0.5, True, 1e-3, "sum"),
            lambda x, t: TF.gaussian_nll_loss(x, t, 0.5, True, 1e-3, "sum"), [X, Y], grad=(0, 1))


@pytest.mark.parametrize("reduction", RED)
def test_hinge_embedding_loss(reduction):
    x = X.copy()
    x[0, :3] = [0.5, 0.5, 0.0]  # at the margin (clamp's tie) and below it
    target = np.where(rng.random((4, 5)) < 0.5, 1.0, -1.0)
    target[0, :3] = [-1.0, 1.0, 0.0]  # 0: both terms
    compare(*both("hinge_embedding_loss", margin=0.5, reduction=reduction), [x, target])
    compare(*both("hinge_embedding_loss", reduction=reduction), [x, target[0]])  # a broadcast target


@pytest.mark.parametrize("reduction", RED)
def test_soft_margin_loss(reduction):
    target = np.where(rng.random((4, 5)) < 0.5, 1.0, -1.0)
    x = X * 20
    x[0, 0] = 0.0
    compare(*both("soft_margin_loss", reduction=reduction), [x, target])
    compare(*both("soft_margin_loss", reduction=reduction), [x, target[1]])


def test_soft_margin_loss_does_not_overflow():
    """PyTorch's gives inf past exp's range; the loss there is |x|, its gradient -t."""
    x = dg.tensor([800.0, -800.0, 800.0], requires_grad=True)
    loss = F.soft_margin_loss(x, dg.tensor([-1.0, 1.0, 1.0]), reduction="none")
    np.testing.assert_array_equal(np.asarray(loss.array), [800.0, 800.0, 0.0])
    loss.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad.array), [1.0, -1.0, -0.0])


def test_soft_margin_loss_target_not_differentiable():
    with pytest.raises(RuntimeError, match="soft_margin_loss.*target"):
        F.soft_margin_loss(dg.tensor(X), dg.tensor(Y, requires_grad=True))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss(reduction, weighted):
    target = (rng.random((4, 5)) < 0.5).astype(np.float64)
    target[0, 0] = 0.3  # a soft label
    arrays = [X * 5, target] + ([rng.random(5) + 0.5] if weighted else [])
    compare(*both("multilabel_soft_margin_loss", reduction=reduction), arrays, grad=range(len(arrays)))
    compare(*both("multilabel_soft_margin_loss", reduction=reduction), [a[0] for a in arrays],
            grad=range(len(arrays)))


MM_TARGET = np.array([0, 3, 1, 4])


def _margin_input():
    x = X.copy()
    x[0, :2] = [1.5, 0.5]  # margin 1 - x[target] + x[1] is exactly 0: not counted (nor its gradient)
    x[1, 0] = np.inf  # an infinite non-target score
    x[1, 3] = 0.0
    return x


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss(reduction, p, weighted):
    w = rng.random(5) + 0.5
    for margin in [1.0, 0.3]:
        fd = lambda x, t: F.multi_margin_loss(x, t, p, margin, dg.tensor(w) if weighted else None,  # noqa: E731
                                              reduction=reduction)
        ft = lambda x, t: TF.multi_margin_loss(x, t, p, margin, torch.tensor(w) if weighted else None,  # noqa: E731
                                               reduction=reduction)
        x = _margin_input() if margin == 1.0 else X
        compare(fd, ft, [x, MM_TARGET])
        compare(fd, ft, [X[2], np.array(2)])  # one sample, 0-d target
        compare(fd, ft, [X[2], np.array([4])])
        if not weighted:
            compare(fd, ft, [np.array(0.7), np.array(0)])  # 0-d: one class, no term


def test_multi_margin_loss_legacy_flags():
    compare(lambda x, t: F.multi_margin_loss(x, t, 1, 1.0, None, False),
            lambda x, t: TF.multi_margin_loss(x, t, 1, 1.0, None, False), [X, MM_TARGET])


ML_TARGET = np.array([[3, 0, -1, 1, 2], [0, 1, 2, 3, 4], [1, 1, -1, 2, 2], [-1, 4, 0, 0, 0]])  # a repeat counts twice


@pytest.mark.parametrize("reduction", RED)
def test_multilabel_margin_loss(reduction):
    x = X.copy()
    x[0, :2] = [1.0, 0.0]  # a hinge of exactly 0 (target 0 against non-target 1 is not a pair; 3 vs 4 is)
    x[0, 3], x[0, 4] = 0.25, -0.75
    compare(*both("multilabel_margin_loss", reduction=reduction), [x, ML_TARGET])
    compare(*both("multilabel_margin_loss", reduction=reduction), [x[2], ML_TARGET[2]])
    compare(*both("multilabel_margin_loss", None, False), [x, ML_TARGET])


def _raises(error, match, fn, *args, **kwargs):
    with pytest.raises(error, match=match):
        fn(*args, **kwargs)


def test_argument_errors():
    x, y = dg.tensor(X), dg.tensor(Y)
    t = dg.tensor(MM_TARGET)
    _raises(ValueError, "triplet_margin_loss.*margin", F.triplet_margin_loss, x, x, x, margin=0)
    _raises(RuntimeError, r"triplet_margin_loss.*\(4, 5\), \(5,\)", F.triplet_margin_loss, x, x[0], x)
    _raises(ValueError, "poisson_nll_loss.*reduction", F.poisson_nll_loss, x, y, reduction="avg")
    _raises(RuntimeError, r"poisson_nll_loss.*\(4, 5\) and \(3, 5\)", F.poisson_nll_loss, x, y[:3])
    _raises(ValueError, r"gaussian_nll_loss.*\(5, 4\)", F.gaussian_nll_loss, x, y, dg.tensor(np.ones((5, 4))))
    _raises(ValueError, "gaussian_nll_loss.*negative", F.gaussian_nll_loss, x, y, dg.tensor(-np.ones(4)))
    _raises(ValueError, "gaussian_nll_loss.*negative", F.gaussian_nll_loss, x, y, -1.0)
    _raises(ValueError, "gaussian_nll_loss.*reduction", F.gaussian_nll_loss, x, y, 1.0, reduction="avg")
    _raises(RuntimeError, r"hinge_embedding_loss.*\(4, 5\) and \(4,\)", F.hinge_embedding_loss, x, y[:, 0])
    _raises(ValueError, "multilabel_soft_margin_loss.*reduction", F.multilabel_soft_margin_loss, x, y,
            reduction="avg")
    _raises(ValueError, "multi_margin_loss.*p == 1", F.multi_margin_loss, x, t, p=3)
    _raises(ValueError, "multi_margin_loss.*one-dimensional", F.multi_margin_loss, x, t, weight=dg.tensor(X))
    _raises(RuntimeError, r"multi_margin_loss.*\(4\).*\(3,\)", F.multi_margin_loss, x, t[:3])
    _raises(IndexError, "multi_margin_loss.*out of range", F.multi_margin_loss, x, dg.tensor([0, 1, 5, 2]))
    _raises(IndexError, "multi_margin_loss.*out of range", F.multi_margin_loss, x, dg.tensor([0, 1, -1, 2]))
    _raises(RuntimeError, "multi_margin_loss.*int64", F.multi_margin_loss, x, t.float())
    _raises(RuntimeError, r"multi_margin_loss.*\(1, 4, 5\)", F.multi_margin_loss, x.unsqueeze(0), t)
    _raises(RuntimeError, r"multi_margin_loss.*\(4, 0\)", F.multi_margin_loss, dg.zeros(4, 0), t)
    _raises(RuntimeError, "multi_margin_loss.*one entry per class", F.multi_margin_loss, x, t,
            weight=dg.tensor(np.ones(4)))
    _raises(RuntimeError, "multi_margin_loss.*weight", F.multi_margin_loss, x, t,
            weight=dg.tensor(np.ones(5), requires_grad=True))
    _raises(RuntimeError, r"multilabel_margin_loss.*\(4, 3\).*\(4, 5\)", F.multilabel_margin_loss, x,
            dg.tensor(ML_TARGET[:, :3]))
    _raises(IndexError, "multilabel_margin_loss.*out of range", F.multilabel_margin_loss, x,
            dg.tensor(ML_TARGET - 1))
    _raises(IndexError, "multilabel_margin_loss.*out of range", F.multilabel_margin_loss, x,
            dg.tensor(np.where(ML_TARGET == 4, 5, ML_TARGET)))
    _raises(RuntimeError, "multilabel_margin_loss.*int64", F.multilabel_margin_loss, x, dg.tensor(ML_TARGET).int())


MODULES = [
    ("TripletMarginLoss", dict(margin=0.5, p=1, swap=True), [X, Y, -X]),
    ("PoissonNLLLoss", dict(log_input=False, full=True), [np.abs(X) + 0.1, np.abs(Y) * 4]),
    ("GaussianNLLLoss", dict(full=True, eps=1e-3), [X, Y, rng.random(4) + 0.1]),
    ("HingeEmbeddingLoss", dict(margin=0.5), [X, np.sign(Y)]),
    ("SoftMarginLoss", dict(), [X, np.sign(Y)]),
    ("MultiLabelSoftMarginLoss", dict(), [X, (Y > 0).astype(np.float64)]),
    ("MultiMarginLoss", dict(p=2, margin=0.5), [X, MM_TARGET]),
    ("MultiLabelMarginLoss", dict(), [X, ML_TARGET]),
]


@pytest.mark.parametrize("name, kwargs, arrays", MODULES, ids=[m[0] for m in MODULES])
@pytest.mark.parametrize("reduction", RED)
def test_modules(name, kwargs, arrays, reduction):
    compare(getattr(nn, name)(**kwargs, reduction=reduction), getattr(torch.nn, name)(**kwargs, reduction=reduction),
            arrays)


def test_weighted_modules():
    w = rng.random(5) + 0.5
    compare(nn.MultiLabelSoftMarginLoss(dg.tensor(w)), torch.nn.MultiLabelSoftMarginLoss(torch.tensor(w)),
            [X, (Y > 0).astype(np.float64)])
    compare(nn.MultiMarginLoss(1, 0.5, dg.tensor(w), None, False),
            torch.nn.MultiMarginLoss(1, 0.5, torch.tensor(w), None, False), [X, MM_TARGET])
    assert "weight" in dict(nn.MultiMarginLoss(weight=dg.tensor(w)).named_buffers())


def test_module_argument_errors():
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginLoss(margin=-1.0)
    with pytest.raises(ValueError, match="p == 1"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="one-dimensional"):
        nn.MultiMarginLoss(weight=dg.tensor(X))
    with pytest.raises(ValueError, match="reduction"):
        nn.SoftMarginLoss(reduction="avg")
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)  # keyword-only, as PyTorch's


def test_unread_targets_out_of_range_make_loss_and_gradients_nan(monkeypatch):
    """On a GPU the class indices are not read back (a sync): a bad one shows as NaN instead."""
    import distgrad.ops.losses_more as losses_more
    monkeypatch.setattr(losses_more, "may_read_values", lambda array: False)
    for fn, target in [(F.multi_margin_loss, [0, 1, 7, 2]), (F.multilabel_margin_loss, ML_TARGET - 2),
                       (F.multi_margin_loss, MM_TARGET), (F.multilabel_margin_loss, ML_TARGET)]:
        x = dg.tensor(X, requires_grad=True)
        loss = fn(x, dg.tensor(np.asarray(target)))
        loss.backward()
        bad = not np.array_equal(target, MM_TARGET) and not np.array_equal(target, ML_TARGET)
        assert np.isnan(float(loss)) == bad
        assert np.isnan(np.asarray(x.grad.array)).all() == bad


def test_soft_margin_loss_in_place_change_after_forward_is_caught():
    x, t = dg.tensor(X, requires_grad=True), dg.tensor(np.sign(Y))
    loss = F.soft_margin_loss(x, t)
    t.mul_(-1)
    with pytest.raises(RuntimeError):
        loss.backward()
