"""The layers added for issue 12 against PyTorch: with the same weights the same outputs and
gradients (float64); PyTorch's parameter names, default initialisation, repr and errors."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.nn import functional as F

torch = pytest.importorskip("torch")

from test_nn_layers_torch import _stats, assert_same_state, copy_weights, run_both  # noqa: E402

RNG = np.random.default_rng(4321)


def both(make):
    """The layer built by ``make(namespace)`` under PyTorch and distgrad, with the same weights."""
    t, d = make(torch.nn), make(nn)
    copy_weights(t, d)
    return t, d


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1, bias=False), dict(padding="same", dilation=2),
                                    dict(groups=2, padding="valid"), dict(padding=2, padding_mode="reflect"),
                                    dict(padding="same", padding_mode="circular"),
                                    dict(padding=1, padding_mode="replicate", stride=2)])
def test_conv1d(kwargs):
    run_both(*both(lambda m: m.Conv1d(4, 6, 3, **kwargs)), RNG.standard_normal((2, 4, 9)))


def test_conv1d_unbatched_and_conv2d_padding_mode():
    run_both(*both(lambda m: m.Conv1d(4, 2, 2)), RNG.standard_normal((4, 7)))
    run_both(*both(lambda m: m.Conv2d(3, 2, 3, padding=1, padding_mode="reflect")), RNG.standard_normal((2, 3, 5, 6)))


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2), dict(stride=2, padding=1, output_padding=1),
                                    dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2), bias=False),
                                    dict(groups=2, dilation=2), dict(stride=3, dilation=2, output_padding=2)])
def test_conv_transpose2d(kwargs):
    run_both(*both(lambda m: m.ConvTranspose2d(4, 6, 3, **kwargs)), RNG.standard_normal((2, 4, 5, 4)))


def test_conv_transpose_output_size_and_1d():
    t, d = both(lambda m: m.ConvTranspose2d(3, 2, 3, stride=2, padding=1))
    x = RNG.standard_normal((1, 3, 4, 4))
    for size in ([7, 7], [8, 8], (1, 2, 8, 7)):
        y = d(dg.tensor(x), output_size=size)
        np.testing.assert_allclose(y.detach().numpy(), t(torch.tensor(x), output_size=size).detach().numpy(),
                                   rtol=1e-9)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        d(dg.tensor(x), output_size=[9, 9])
    run_both(*both(lambda m: m.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1)),
             RNG.standard_normal((2, 4, 5)))


@pytest.mark.parametrize("make,fan_in", [(lambda m: m.Conv1d(16, 32, 5), 16 * 5),
                                         (lambda m: m.ConvTranspose2d(16, 32, 3), 32 * 9),
                                         (lambda m: m.ConvTranspose2d(16, 32, 3, groups=4), 8 * 9)])
def test_conv_layers_initialise_and_name_parameters_as_torch(make, fan_in):
    t, d = make(torch.nn), make(nn)
    assert [(k, tuple(v.shape)) for k, v in t.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in d.state_dict().items()]
    bound = 1 / np.sqrt(fan_in)
    for name, p in d.named_parameters():
        mean, std, low, high = _stats(p.detach().numpy())
        assert -bound <= low and high <= bound, name
        assert abs(std / (bound / np.sqrt(3)) - 1) < 6 / np.sqrt(p.numel()), name


def test_conv_errors_name_the_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"conv1d: input of shape \(2, 3, 8\) has 3 channels but weight"):
        F.conv1d(dg.ones(2, 3, 8), dg.ones(5, 4, 3))
    with pytest.raises(RuntimeError, match=r"conv1d: expected a 2-D or 3-D input"):
        F.conv1d(dg.ones(2, 3, 8, 8), dg.ones(5, 3, 3))
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: input of shape \(1, 3, 4, 4\) has 3 channels"):
        F.conv_transpose2d(dg.ones(1, 3, 4, 4), dg.ones(2, 5, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(dg.ones(1, 2, 4, 4), dg.ones(2, 5, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")


@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(affine):
    t, d = both(lambda m: m.GroupNorm(3, 6, affine=affine))
    if affine:
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
            t.bias.uniform_(-0.5, 0.5)
        copy_weights(t, d)
    run_both(t, d, RNG.standard_normal((2, 6, 4, 3)) * 2 + 1)
    run_both(t, d, RNG.standard_normal((2, 6)))
    with pytest.raises(RuntimeError, match="group_norm: Expected number of channels"):
        F.group_norm(dg.ones(2, 5, 3), 2)


@pytest.mark.parametrize("cls,shape", [("InstanceNorm2d", (3, 4, 5, 6)), ("InstanceNorm1d", (3, 4, 7)),
                                       ("InstanceNorm2d", (4, 5, 6))])
def test_instance_norm_default_has_no_parameters_or_statistics(cls, shape):
    t, d = both(lambda m: getattr(m, cls)(4))
    assert list(d.state_dict()) == [] and repr(d) == repr(t)
    run_both(t, d, RNG.standard_normal(shape))


def test_instance_norm_with_affine_and_running_statistics():
    t, d = both(lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.2))
    for _ in range(2):
        run_both(t, d, RNG.standard_normal((4, 3, 5, 5)) * 3 + 1)
    assert_same_state(t, d)
    assert int(d.num_batches_tracked.item()) == 0  # as PyTorch's, which never counts for instance norm
    t.eval()
    d.eval()
    run_both(t, d, RNG.standard_normal((2, 3, 5, 5)))


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(size=(5, 7)), dict(scale_factor=1.5, mode="bilinear"),
                                    dict(size=(3, 9), mode="bilinear", align_corners=True),
                                    dict(scale_factor=(0.5, 2), mode="nearest-exact")])
def test_upsample(kwargs):
    run_both(torch.nn.Upsample(**kwargs), nn.Upsample(**kwargs), RNG.standard_normal((2, 3, 4, 6)))


def test_interpolate_1d_and_fixed_mode_layers():
    x = RNG.standard_normal((2, 3, 5))
    for mode in ("nearest", "linear"):
        np.testing.assert_allclose(F.interpolate(dg.tensor(x), scale_factor=2.5, mode=mode).numpy(),
                                   torch.nn.functional.interpolate(torch.tensor(x), scale_factor=2.5, mode=mode),
                                   rtol=1e-9)
    x4 = RNG.standard_normal((1, 2, 3, 4))
    for name in ("UpsamplingNearest2d", "UpsamplingBilinear2d"):
        run_both(getattr(torch.nn, name)(scale_factor=2), getattr(nn, name)(scale_factor=2), x4)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(dg.tensor(x4), scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(dg.tensor(x4))


@pytest.mark.parametrize("cls,shape,spatial", [("Dropout2d", (8, 50, 3, 3), 2), ("Dropout1d", (8, 50, 4), 1),
                                               ("Dropout2d", (50, 3, 3), 2)])
def test_channel_dropout_zeroes_whole_channels(cls, shape, spatial):
    layer = getattr(nn, cls)(0.4)
    x = dg.tensor(RNG.standard_normal(shape) + 5.0, requires_grad=True)
    y = layer(x)
    scale = (y / x).detach().numpy()
    per_channel = scale.reshape(-1, int(np.prod(shape[-spatial:])))
    assert np.allclose(per_channel, per_channel[:, :1])  # one draw per channel
    assert set(np.round(np.unique(per_channel), 6)) == {0.0, round(1 / 0.6, 6)}
    assert 0.25 < (per_channel[:, 0] == 0).mean() < 0.55
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), scale)
    layer.eval()
    assert layer(x) is x
    assert repr(layer) == repr(getattr(torch.nn, cls)(0.4))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag(mode):
    t, d = both(lambda m: m.EmbeddingBag(10, 4, mode=mode, padding_idx=1))
    indices, offsets = np.array([1, 2, 4, 5, 4, 3, 2, 9, 1]), np.array([0, 2, 2, 6])
    ty = t(torch.tensor(indices), torch.tensor(offsets))
    dy = d(dg.tensor(indices), dg.tensor(offsets))
    np.testing.assert_allclose(dy.detach().numpy(), ty.detach().numpy(), rtol=1e-9)
    upstream = RNG.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(upstream))
    dy.backward(dg.tensor(upstream))
    np.testing.assert_allclose(d.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-9)
    run_both(t, d, np.array([[1, 2, 3], [4, 4, 0]]), differentiable_input=False)
    assert repr(d) == repr(t)


def test_embedding_bag_per_sample_weights_and_init():
    t, d = both(lambda m: m.EmbeddingBag(6, 3, mode="sum"))
    weights = RNG.standard_normal(5)
    tw, dw = torch.tensor(weights, requires_grad=True), dg.tensor(weights, requires_grad=True)
    ty = t(torch.tensor([0, 2, 5, 1, 1]), torch.tensor([0, 3]), per_sample_weights=tw)
    dy = d(dg.tensor(np.array([0, 2, 5, 1, 1])), dg.tensor(np.array([0, 3])), per_sample_weights=dw)
    np.testing.assert_allclose(dy.detach().numpy(), ty.detach().numpy(), rtol=1e-9)
    ty.sum().backward()
    dy.sum().backward()
    np.testing.assert_allclose(dw.grad.numpy(), tw.grad.numpy(), rtol=1e-9)
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        F.embedding_bag(dg.tensor(np.array([[0, 1]])), d.weight, mode="mean", per_sample_weights=dg.ones(1, 2))
    mean, std, _, _ = _stats(nn.EmbeddingBag(500, 64).weight.detach().numpy())
    assert abs(mean) < 0.02 and abs(std - 1) < 0.02
    table = RNG.standard_normal((4, 2))
    bag = nn.EmbeddingBag.from_pretrained(dg.tensor(table), mode="max")
    assert not bag.weight.requires_grad and bag.mode == "max"
    np.testing.assert_allclose(bag(dg.tensor(np.array([[0, 3]]))).numpy(),
                               torch.nn.EmbeddingBag.from_pretrained(torch.tensor(table), mode="max")(
                                   torch.tensor([[0, 3]])).numpy())


def test_pixel_shuffle_round_trip():
    run_both(torch.nn.PixelShuffle(2), nn.PixelShuffle(2), RNG.standard_normal((2, 8, 3, 4)))
    run_both(torch.nn.PixelUnshuffle(3), nn.PixelUnshuffle(3), RNG.standard_normal((1, 2, 6, 9)))
    with pytest.raises(RuntimeError, match=r"pixel_shuffle: .*input.size\(-3\)=5 is not divisible by 4"):
        F.pixel_shuffle(dg.ones(1, 5, 2, 2), 2)


ACTIVATIONS = [("SiLU", ()), ("ELU", (0.7,)), ("SELU", ()), ("CELU", (1.5,)), ("Softplus", (2.0, 3.0)),
               ("Mish", ()), ("Hardtanh", (-0.5, 2.0)), ("ReLU6", ()), ("Hardswish", ()), ("Hardsigmoid", ()),
               ("GLU", (1,)), ("LogSigmoid", ()), ("Softsign", ()), ("Tanhshrink", ()), ("Softmin", (-1,))]


@pytest.mark.parametrize("name,args", ACTIVATIONS)
def test_activation_layers(name, args):
    t, d = getattr(torch.nn, name)(*args), getattr(nn, name)(*args)
    run_both(t, d, RNG.standard_normal((3, 4, 5)) * 4)
    assert repr(d) == repr(t)


@pytest.mark.parametrize("num_parameters,shape", [(1, (3, 4, 5)), (4, (3, 4, 5)), (4, (2, 4)), (1, (6,))])
def test_prelu(num_parameters, shape):
    t, d = both(lambda m: m.PReLU(num_parameters, init=0.3))
    np.testing.assert_allclose(nn.PReLU(num_parameters, init=0.3).weight.detach().numpy(), 0.3, rtol=1e-7)
    assert list(d.state_dict()) == ["weight"] and repr(d) == repr(t)
    run_both(t, d, RNG.standard_normal(shape))
    if num_parameters > 1:
        with pytest.raises(RuntimeError, match="prelu: Mismatch of parameter numbers and input channel size"):
            d(dg.ones(2, 3))


def test_top_level_names_as_torch():
    for name in ("selu", "celu", "prelu", "conv1d", "conv_transpose2d", "pixel_shuffle", "cosine_similarity",
                 "pairwise_distance", "max_pool1d", "group_norm"):
        assert hasattr(dg, name) and hasattr(torch, name), name
    for name in ("silu", "pad", "interpolate", "one_hot", "normalize", "instance_norm", "embedding_bag"):
        assert hasattr(F, name) and not hasattr(dg, name) or hasattr(torch, name), name


@pytest.mark.parametrize("make", [lambda m: m.MaxPool1d(3, 2, 1), lambda m: m.AvgPool1d(2),
                                  lambda m: m.AdaptiveAvgPool1d(3), lambda m: m.AdaptiveMaxPool1d(4)])
def test_pool1d_layers(make):
    run_both(make(torch.nn), make(nn), RNG.standard_normal((2, 3, 9)))
    assert repr(make(nn)) == repr(make(torch.nn))


@pytest.mark.parametrize("size", [3, (2, 5), (None, 2), 7])
def test_adaptive_max_pool2d(size):
    run_both(torch.nn.AdaptiveMaxPool2d(size), nn.AdaptiveMaxPool2d(size), RNG.standard_normal((2, 3, 7, 8)))
    x = RNG.standard_normal((3, 7, 8))
    (ty, ti), (dy, di) = (torch.nn.AdaptiveMaxPool2d(size, True)(torch.tensor(x)),
                          nn.AdaptiveMaxPool2d(size, True)(dg.tensor(x)))
    np.testing.assert_array_equal(di.numpy(), ti.numpy())


@pytest.mark.parametrize("make", [lambda m: m.ZeroPad2d((1, 2, 0, 3)), lambda m: m.ConstantPad1d(2, 3.5),
                                  lambda m: m.ReflectionPad2d(2), lambda m: m.ReplicationPad1d((1, 3)),
                                  lambda m: m.CircularPad2d((1, 0, 2, 1)), lambda m: m.ReflectionPad1d(1)])
def test_padding_layers(make):
    run_both(make(torch.nn), make(nn), RNG.standard_normal((2, 3, 4, 5)) if "2d" in repr(make(nn)).lower()
             else RNG.standard_normal((2, 3, 5)))
    assert repr(make(nn)) == repr(make(torch.nn))


def test_functional_helpers():
    x, y = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    labels = np.array([[0, 3], [2, 2]])
    np.testing.assert_array_equal(F.one_hot(dg.tensor(labels), 5).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(labels), 5).numpy())
    assert F.one_hot(dg.tensor(labels)).shape == (2, 2, 4)
    with pytest.raises(RuntimeError, match="one_hot: Class values must be smaller than num_classes"):
        F.one_hot(dg.tensor(labels), 3)
    for name, args in (("normalize", (x,)), ("cosine_similarity", (x, y)), ("pairwise_distance", (x, y))):
        ours = getattr(F, name)(*(dg.tensor(a) for a in args)).detach().numpy()
        np.testing.assert_allclose(ours, getattr(torch.nn.functional, name)(*(torch.tensor(a) for a in args)),
                                   rtol=1e-9)
    with pytest.raises(RuntimeError, match="pad: reflect padding"):
        F.pad(dg.ones(1, 2, 3), (3, 0), mode="reflect")


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=2, padding=1),
                                    dict(kernel_size=3, dilation=2, padding=2, stride=(1, 2))])
def test_unfold_and_fold(kwargs):
    x = RNG.standard_normal((2, 3, 7, 8))
    run_both(torch.nn.Unfold(**kwargs), nn.Unfold(**kwargs), x)
    blocks = torch.nn.Unfold(**kwargs)(torch.tensor(x)).detach().numpy()
    run_both(torch.nn.Fold((7, 8), **kwargs), nn.Fold((7, 8), **kwargs), blocks)
    assert repr(nn.Fold((7, 8), **kwargs)) == repr(torch.nn.Fold((7, 8), **kwargs))
    with pytest.raises(RuntimeError, match="fold: expected an input of shape"):
        F.fold(dg.tensor(blocks[:, :, 1:]), (7, 8), **kwargs)


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, groups=2, bias=False),
                                    dict(padding="same", dilation=2)])
def test_conv2d_in_batch_chunks(monkeypatch, kwargs):
    """A batch larger than one chunk of columns (here one sample each) runs chunk by chunk."""
    from distgrad.ops.conv import Conv2d as Conv2dOp
    monkeypatch.setattr(Conv2dOp, "CHUNK_BYTES", 1)
    run_both(*both(lambda m: m.Conv2d(4, 6, 3, **kwargs)), RNG.standard_normal((5, 4, 7, 6)))
