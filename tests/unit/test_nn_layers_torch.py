"""Layers against PyTorch: identical weights give the same outputs and gradients; default
initialisation draws from the same distributions."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(1234)


def copy_weights(torch_module, dg_module):
    """Load the torch module's parameters and buffers into the distgrad one (float64 both)."""
    torch_module.double()
    dg_module.double()
    dg_module.load_state_dict({k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()})


def run_both(torch_module, dg_module, x, differentiable_input=True, rtol=1e-9):
    """Forward and backward (with the same random upstream gradient) through both modules;
    compare outputs, input gradients and parameter gradients."""
    tx = torch.tensor(x, requires_grad=differentiable_input)
    dx = dg.tensor(x, requires_grad=differentiable_input)
    ty, dy = torch_module(tx), dg_module(dx)
    np.testing.assert_allclose(dy.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=1e-12)
    upstream = RNG.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(upstream))
    dy.backward(dg.tensor(upstream))
    if differentiable_input:
        np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=1e-12)
    torch_params = dict(torch_module.named_parameters())
    dg_params = dict(dg_module.named_parameters())
    assert list(torch_params) == list(dg_params)
    for name, tp in torch_params.items():
        np.testing.assert_allclose(dg_params[name].grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=1e-12,
                                   err_msg=name)


def assert_same_state(torch_module, dg_module):
    torch_state = torch_module.state_dict()
    dg_state = dg_module.state_dict()
    assert list(torch_state) == list(dg_state)
    for name, value in torch_state.items():
        np.testing.assert_allclose(dg_state[name].numpy(), value.numpy(), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    t, d = torch.nn.Linear(5, 3, bias=bias), nn.Linear(5, 3, bias=bias)
    copy_weights(t, d)
    run_both(t, d, RNG.standard_normal((4, 5)))
    run_both(t, d, RNG.standard_normal((2, 6, 5)))  # extra leading dimensions


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                    dict(groups=2, bias=False)])
def test_conv2d(kwargs):
    t, d = torch.nn.Conv2d(4, 6, 3, **kwargs), nn.Conv2d(4, 6, 3, **kwargs)
    copy_weights(t, d)
    run_both(t, d, RNG.standard_normal((2, 4, 7, 8)))


@pytest.mark.parametrize("shape,cls", [((6, 3), "BatchNorm1d"), ((6, 3, 5), "BatchNorm1d"),
                                       ((4, 3, 5, 5), "BatchNorm2d")])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_train_then_eval(shape, cls, momentum):
    t, d = getattr(torch.nn, cls)(3, momentum=momentum), getattr(nn, cls)(3, momentum=momentum)
    copy_weights(t, d)
    with torch.no_grad():
        t.weight.uniform_(0.5, 1.5)
        t.bias.uniform_(-0.5, 0.5)
    copy_weights(t, d)
    for _ in range(3):  # running statistics move the same way, including the cumulative average
        run_both(t, d, RNG.standard_normal(shape) * 2 + 1)
    assert_same_state(t, d)
    assert int(d.num_batches_tracked.item()) == 3
    t.eval()
    d.eval()
    run_both(t, d, RNG.standard_normal(shape))
    assert_same_state(t, d)  # eval does not touch the statistics


def test_batch_norm_without_running_stats_or_affine():
    t = torch.nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    d = nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert list(d.state_dict()) == []
    d.eval()
    t.eval()
    run_both(t.double(), d.double(), RNG.standard_normal((2, 3, 4, 4)))  # batch statistics even in eval


def test_batch_norm_rejects_wrong_rank_and_channels():
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(dg.randn(2, 3))
    with pytest.raises(ValueError, match="expected 3"):
        nn.BatchNorm1d(3)(dg.randn(2, 4))


@pytest.mark.parametrize("normalized_shape,affine", [(5, True), ((4, 5), True), (5, False)])
def test_layer_norm(normalized_shape, affine):
    t = torch.nn.LayerNorm(normalized_shape, elementwise_affine=affine)
    d = nn.LayerNorm(normalized_shape, elementwise_affine=affine)
    copy_weights(t, d)
    if affine:
        with torch.no_grad():
            t.weight.normal_()
            t.bias.normal_()
        copy_weights(t, d)
    run_both(t, d, RNG.standard_normal((3, 4, 5)))


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding(padding_idx):
    t = torch.nn.Embedding(10, 4, padding_idx=padding_idx)
    d = nn.Embedding(10, 4, padding_idx=padding_idx)
    if padding_idx is not None:
        assert float(abs(d.weight.array[padding_idx]).sum()) == 0.0
    copy_weights(t, d)
    run_both(t, d, np.array([[1, 2, 2], [9, 0, 2]]), differentiable_input=False)


def test_embedding_from_pretrained_and_unflatten():
    table = dg.tensor(RNG.standard_normal((5, 3)))
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad and emb.weight.array is table.array
    np.testing.assert_array_equal(emb(dg.tensor([4, 0])).numpy(), table.numpy()[[4, 0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    t_out = torch.nn.Unflatten(1, (2, 3))(torch.zeros(4, 6))
    assert nn.Unflatten(1, (2, 3))(dg.zeros(4, 6)).shape == tuple(t_out.shape)


@pytest.mark.parametrize("make", [
    lambda m: m.MaxPool2d(2),
    lambda m: m.MaxPool2d(3, stride=2, padding=1),
    lambda m: m.MaxPool2d(3, stride=2, ceil_mode=True),
    lambda m: m.AvgPool2d(2),
    lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    lambda m: m.AdaptiveAvgPool2d((2, 3)),
])
def test_pooling(make):
    run_both(make(torch.nn), make(nn), RNG.standard_normal((2, 3, 7, 7)))


@pytest.mark.parametrize("name,args", [("ReLU", ()), ("GELU", ()), ("GELU", ("tanh",)), ("LeakyReLU", (0.2,)),
                                       ("Tanh", ()), ("Sigmoid", ()), ("Softmax", (1,)), ("LogSoftmax", (-1,)),
                                       ("Flatten", ()), ("Identity", ())])
def test_activations_and_reshapes(name, args):
    # distgrad's exact GELU uses an erf approximation good to ~1e-7 relative
    rtol = 1e-6 if name == "GELU" and not args else 1e-9
    run_both(getattr(torch.nn, name)(*args), getattr(nn, name)(*args), RNG.standard_normal((3, 4, 2)), rtol=rtol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(reduction):
    logits = RNG.standard_normal((6, 4))
    target = np.array([0, 3, 1, 1, 2, -100])
    weight = np.array([1.0, 2.0, 0.5, 1.5])
    for t_loss, d_loss, inputs in [
        (torch.nn.CrossEntropyLoss(weight=torch.tensor(weight), reduction=reduction, label_smoothing=0.1),
         nn.CrossEntropyLoss(weight=dg.tensor(weight), reduction=reduction, label_smoothing=0.1), logits),
        (torch.nn.NLLLoss(reduction=reduction), nn.NLLLoss(reduction=reduction), logits),
    ]:
        t_out = t_loss(torch.tensor(inputs), torch.tensor(target))
        d_out = d_loss(dg.tensor(inputs), dg.tensor(target))
        np.testing.assert_allclose(d_out.numpy(), t_out.numpy(), rtol=1e-10)
    a, b = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))
    np.testing.assert_allclose(nn.MSELoss(reduction=reduction)(dg.tensor(a), dg.tensor(b)).numpy(),
                               torch.nn.MSELoss(reduction=reduction)(torch.tensor(a), torch.tensor(b)).numpy())
    assert nn.CrossEntropyLoss(reduce=False).reduction == "none"
    assert nn.MSELoss(size_average=False).reduction == "sum"


def test_sequential_model_matches_torch_end_to_end():
    def build(m):
        return m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(), m.MaxPool2d(2),
                            m.Flatten(), m.Linear(4 * 4 * 4, 10), m.LogSoftmax(dim=1))
    t, d = build(torch.nn), build(nn)
    copy_weights(t, d)
    run_both(t, d, RNG.standard_normal((5, 1, 8, 8)))
    assert_same_state(t, d)


# ----------------------------------------------------------------- initialisation
def _stats(array):
    array = np.asarray(array, dtype=np.float64).ravel()
    return array.mean(), array.std(), array.min(), array.max()


@pytest.mark.parametrize("make,fan_in", [(lambda m: m.Linear(300, 200), 300),
                                         (lambda m: m.Conv2d(16, 32, 3), 16 * 9)])
def test_fan_in_layers_initialise_as_torch(make, fan_in):
    """Weight and bias both ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) in PyTorch (kaiming_uniform_
    with a=sqrt(5) for the weight)."""
    torch.manual_seed(0)
    dg.manual_seed(0)
    t, d = make(torch.nn), make(nn)
    bound = 1 / np.sqrt(fan_in)
    for name, tp in t.named_parameters():
        dp = dict(d.named_parameters())[name]
        assert dp.dtype == np.float32 and tuple(dp.shape) == tuple(tp.shape)
        n = dp.numel()
        for values in (tp.detach().numpy(), dp.detach().numpy()):
            mean, std, low, high = _stats(values)
            assert -bound <= low and high <= bound, name
            assert abs(mean) < 6 * bound / np.sqrt(3 * n), name
            assert abs(std / (bound / np.sqrt(3)) - 1) < 6 / np.sqrt(n), name
        if n > 1000:  # the bounds are reached
            assert _stats(dp.detach().numpy())[3] > 0.99 * bound


def test_embedding_initialises_standard_normal_as_torch():
    t, d = torch.nn.Embedding(500, 64), nn.Embedding(500, 64)
    for values in (t.weight.detach().numpy(), d.weight.detach().numpy()):
        mean, std, _, _ = _stats(values)
        assert abs(mean) < 0.02 and abs(std - 1) < 0.02


def test_norm_layers_initialise_to_ones_and_zeros():
    for layer in (nn.BatchNorm2d(3), nn.LayerNorm(3)):
        np.testing.assert_array_equal(layer.weight.detach().numpy(), np.ones(3, np.float32))
        np.testing.assert_array_equal(layer.bias.detach().numpy(), np.zeros(3, np.float32))
    bn = nn.BatchNorm1d(3)
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3, np.float32))
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()


def test_default_initialisation_is_reproducible_with_manual_seed():
    dg.manual_seed(7)
    a = nn.Linear(4, 3)
    dg.manual_seed(7)
    b = nn.Linear(4, 3)
    c = nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    assert not np.array_equal(b.weight.detach().numpy(), c.weight.detach().numpy())


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("relu", None), ("tanh", None),
                                                ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                                                ("sigmoid", None), ("conv2d", None)])
def test_calculate_gain(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param))


@pytest.mark.parametrize("fn,kwargs", [("xavier_uniform_", dict(gain=2.0)), ("xavier_normal_", {}),
                                       ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
                                       ("kaiming_normal_", dict(a=0.1)), ("uniform_", dict(a=-3, b=1)),
                                       ("normal_", dict(mean=2, std=0.5)),
                                       ("trunc_normal_", dict(std=2.0, a=-1.0, b=3.0)), ("orthogonal_", {})])
def test_init_functions_match_torch_statistics(fn, kwargs):
    shape = (256, 64, 3)
    t = torch.empty(shape)
    getattr(torch.nn.init, fn)(t, **kwargs)
    d = dg.empty(*shape)
    assert getattr(nn.init, fn)(d, **kwargs) is d
    t_mean, t_std, t_min, t_max = _stats(t.numpy())
    d_mean, d_std, d_min, d_max = _stats(d.numpy())
    assert abs(d_mean - t_mean) < 0.02 * max(t_std, 1e-3) * 10
    assert abs(d_std / t_std - 1) < 0.03
    if fn in ("trunc_normal_", "uniform_", "xavier_uniform_", "kaiming_uniform_"):
        span = t_max - t_min
        assert t_min - 0.01 * span <= d_min and d_max <= t_max + 0.01 * span


def test_orthogonal_rows_are_orthonormal():
    w = nn.init.orthogonal_(dg.empty(8, 20))
    np.testing.assert_allclose(w.numpy() @ w.numpy().T, np.eye(8), atol=1e-5)


def test_init_runs_in_place_on_parameters_without_recording():
    p = nn.Linear(3, 3).weight
    nn.init.constant_(p, 0.5)
    assert p.grad_fn is None and float(p.array.min()) == 0.5 == float(p.array.max())
    nn.init.ones_(p)
    nn.init.eye_(p)
    np.testing.assert_array_equal(p.detach().numpy(), np.eye(3))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(dg.empty(3))
