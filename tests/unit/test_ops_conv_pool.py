"""conv2d and 2-D pooling: gradients, direct-loop NumPy references, PyTorch, errors."""
import numpy as np
import pytest

import distgrad as dg
from test_ops_common import Case, op_tests


def np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolution straight from its definition, one output element at a time."""
    x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        chans = slice(oc // og * cg, oc // og * cg + cg)
        for i in range(oh):
            for j in range(ow):
                patch = x[:, chans, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                          j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out if b is None else out + b[:, None, None]


def np_pool(x, k, stride, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * stride:i * stride + k, j * stride:j * stride + k], axis=(2, 3))
    return out


def image(rng, n=2, c=4, low=5, high=8):
    return (n, c, int(rng.integers(low, high)), int(rng.integers(low, high)))


CASES = [
    Case("conv", lambda m, x, w, b: m.conv2d(x, w, b), lambda r: [image(r), (3, 4, 3, 3), (3,)], ref=np_conv2d),
    Case("conv_stride_padding", lambda m, x, w, b: m.conv2d(x, w, b, stride=2, padding=1),
         lambda r: [image(r), (3, 4, 3, 3), (3,)], ref=lambda x, w, b: np_conv2d(x, w, b, 2, 1)),
    Case("conv_dilation", lambda m, x, w: m.conv2d(x, w, dilation=2, padding=1),
         lambda r: [image(r), (2, 4, 2, 2)], ref=lambda x, w: np_conv2d(x, w, None, 1, 1, 2)),
    Case("conv_groups", lambda m, x, w, b: m.conv2d(x, w, b, groups=2, stride=2),
         lambda r: [image(r), (4, 2, 3, 3), (4,)], ref=lambda x, w, b: np_conv2d(x, w, b, 2, 0, 1, 2)),
    Case("conv_depthwise", lambda m, x, w: m.conv2d(x, w, groups=4, padding=1),
         lambda r: [image(r), (8, 1, 3, 3)], ref=lambda x, w: np_conv2d(x, w, None, 1, 1, 1, 4)),
    Case("conv_rectangular", lambda m, x, w: m.conv2d(x, w, stride=(2, 1), padding=(1, 0)),
         lambda r: [image(r, c=2), (3, 2, 2, 3)]),
    Case("conv_same", lambda m, x, w: m.conv2d(x, w, padding="same"), lambda r: [image(r, c=2), (2, 2, 2, 3)]),
    Case("conv_unbatched", lambda m, x, w: m.conv2d(x, w), [(2, 5, 4), (3, 2, 2, 2)]),
    Case("conv_1x1", lambda m, x, w: m.conv2d(x, w), lambda r: [image(r, c=3), (2, 3, 1, 1)],
         ref=lambda x, w: np_conv2d(x, w)),
    Case("max_pool", lambda m, x: m.max_pool2d(x, 2), lambda r: [image(r, c=2)],
         ref=lambda x: np_pool(x, 2, 2, np.max)),
    Case("max_pool_overlapping", lambda m, x: m.max_pool2d(x, 3, stride=1), lambda r: [image(r, c=2)],
         ref=lambda x: np_pool(x, 3, 1, np.max)),
    Case("max_pool_padding", lambda m, x: m.max_pool2d(x, 3, 2, padding=1), lambda r: [image(r, c=2)]),
    Case("max_pool_dilation_ceil", lambda m, x: m.max_pool2d(x, 2, 2, dilation=2, ceil_mode=True),
         lambda r: [image(r, c=2)]),
    Case("max_pool_indices", lambda m, x: m.max_pool2d(x, (2, 3), return_indices=True, padding=1),
         lambda r: [image(r, c=2)]),
    Case("max_pool_unbatched", lambda m, x: m.max_pool2d(x, 2), [(2, 5, 4)]),
    Case("avg_pool", lambda m, x: m.avg_pool2d(x, 2), lambda r: [image(r, c=2)],
         ref=lambda x: np_pool(x, 2, 2, np.mean)),
    Case("avg_pool_overlapping", lambda m, x: m.avg_pool2d(x, 3, stride=1), lambda r: [image(r, c=2)],
         ref=lambda x: np_pool(x, 3, 1, np.mean)),
    Case("avg_pool_padding", lambda m, x: m.avg_pool2d(x, 3, 2, padding=1), lambda r: [image(r, c=2)]),
    Case("avg_pool_exclude_pad_ceil", lambda m, x: m.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
         lambda r: [image(r, c=2)]),
    Case("avg_pool_divisor", lambda m, x: m.avg_pool2d(x, 2, divisor_override=3), lambda r: [image(r, c=2)],
         ref=lambda x: np_pool(x, 2, 2, np.sum) / 3),
    Case("adaptive_avg_pool", lambda m, x: m.adaptive_avg_pool2d(x, (3, 2)), [(2, 2, 7, 5)]),
    Case("adaptive_avg_pool_global", lambda m, x: m.adaptive_avg_pool2d(x, 1), [(2, 3, 4, 5)],
         ref=lambda x: x.mean(axis=(2, 3), keepdims=True)),
    Case("cnn", lambda m, x, w1, w2: m.avg_pool2d(m.conv2d(m.relu(m.max_pool2d(m.conv2d(x, w1, padding=1), 2)), w2), 2),
         [(2, 1, 8, 8), (3, 1, 3, 3), (2, 3, 2, 2)]),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


def test_conv_channel_mismatch_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"conv2d.*\(2, 3, 8, 8\) has 3 channels.*\(4, 2, 3, 3\) expects 2"):
        dg.conv2d(dg.zeros(2, 3, 8, 8), dg.zeros(4, 2, 3, 3))


def test_conv_kernel_larger_than_padded_input():
    with pytest.raises(RuntimeError, match=r"conv2d: kernel of size \(5, 5\).*larger than the padded input \(4, 4\)"):
        dg.conv2d(dg.zeros(1, 1, 2, 2), dg.zeros(1, 1, 5, 5), padding=1)


@pytest.mark.parametrize("x, w", [((8, 8), (1, 1, 3, 3)), ((1, 1, 8, 8), (1, 3, 3))])
def test_conv_wrong_ndim(x, w):
    with pytest.raises(RuntimeError, match="conv2d: expected a 3-D or 4-D input"):
        dg.conv2d(dg.zeros(*x), dg.zeros(*w))


def test_conv_groups_must_divide_channels():
    with pytest.raises(RuntimeError, match="groups=3"):
        dg.conv2d(dg.zeros(1, 4, 5, 5), dg.zeros(4, 2, 3, 3), groups=3)


def test_conv_bias_and_dtype_checks():
    with pytest.raises(RuntimeError, match=r"bias of shape \(3,\)"):
        dg.conv2d(dg.zeros(1, 2, 5, 5), dg.zeros(4, 2, 3, 3), dg.zeros(3))
    with pytest.raises(TypeError, match="conv2d.*float64.*float32"):
        dg.conv2d(dg.zeros(1, 2, 5, 5, dtype=dg.float64), dg.zeros(4, 2, 3, 3))


def test_pool_errors():
    with pytest.raises(RuntimeError, match=r"max_pool2d: expected a 3-D \(C, H, W\) or 4-D"):
        dg.max_pool2d(dg.zeros(4, 4), 2)
    with pytest.raises(RuntimeError, match="avg_pool2d: padding .* at most half"):
        dg.avg_pool2d(dg.zeros(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match=r"max_pool2d: kernel \(5, 5\).*larger than the padded input"):
        dg.max_pool2d(dg.zeros(1, 1, 3, 3), 5)


def test_max_pool_propagates_nan():
    x = dg.tensor([[[[1.0, float("nan")], [3.0, 2.0]]]])
    assert np.isnan(dg.max_pool2d(x, 2).item())


def test_max_pool_ties_and_nans_choose_pytorchs_element():
    """Ties (ReLU's zeros) go to the first maximum, NaN windows to their last NaN: the
    returned indices and the gradient match PyTorch's."""
    torch = pytest.importorskip("torch")
    nan = float("nan")
    x = np.array([[[[0, 0, 1, 3, nan, 1, 2, nan],
                    [0, 0, 3, 2, nan, 2, nan, 5]]]], dtype=np.float32)
    out, idx = dg.max_pool2d(dg.tensor(x, requires_grad=True), 2, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())
    np.testing.assert_array_equal(out.detach().numpy(), t_out.numpy())
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dg.max_pool2d(xd, 2).backward(dg.ones(1, 1, 1, 4))
    torch.nn.functional.max_pool2d(xt, 2).backward(torch.ones(1, 1, 1, 4))
    np.testing.assert_array_equal(xd.grad.numpy(), xt.grad.numpy())


def test_conv_backward_skips_unneeded_gradients():
    x = dg.randn(2, 3, 5, 5)
    w = dg.randn(4, 3, 3, 3, requires_grad=True)
    dg.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)
    x.requires_grad_()
    w2 = dg.randn(4, 3, 3, 3)
    dg.conv2d(x, w2).sum().backward()
    assert x.grad.shape == (2, 3, 5, 5)
