"""Argument errors name the op: where PyTorch raises, distgrad raises an error whose message
starts ``op: `` (an OpError, or the array library's error with the op and shapes in front;
not ``'float' object has no attribute 'array'`` from inside the op), of the built-in type
PyTorch's is where they agree."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import distgrad as dg  # noqa: E402
from distgrad.errors import OpError  # noqa: E402


def _x(m):
    return m.from_numpy(np.arange(6.0).reshape(2, 3))


def _i(m):
    return m.from_numpy(np.arange(6).reshape(2, 3))


# (call on framework m, the op name distgrad's message starts with, the built-in type both raise)
CASES = {
    # a Python number (or None, a string) where a tensor goes
    "exp(1.0)": (lambda m: m.exp(1.0), "exp", TypeError),
    "sum(1.0)": (lambda m: m.sum(1.0), "sum", TypeError),
    "relu(1.0)": (lambda m: m.relu(1.0), "relu", TypeError),
    "sigmoid('a')": (lambda m: m.sigmoid("a"), "sigmoid", TypeError),
    "abs(None)": (lambda m: m.abs(None), "abs", TypeError),
    "matmul(x, 2.0)": (lambda m: m.matmul(_x(m), 2.0), "matmul", TypeError),
    "matmul(2.0, x)": (lambda m: m.matmul(2.0, _x(m)), "matmul", TypeError),
    "cat([x, 1.0])": (lambda m: m.cat([_x(m), 1.0]), "cat", TypeError),
    "linear(x, 2.0)": (lambda m: m.nn.functional.linear(_x(m), 2.0), "linear", TypeError),
    "conv2d(1.0, w)": (lambda m: m.nn.functional.conv2d(1.0, m.ones(1, 1, 2, 2)), "conv2d", TypeError),
    "softmax(1.0, 0)": (lambda m: m.nn.functional.softmax(1.0, 0), "softmax", None),  # PyTorch: AttributeError
    "mse_loss(x, 1.0)": (lambda m: m.nn.functional.mse_loss(_x(m), 1.0), "mse_loss", None),  # likewise
    # binary ops PyTorch defines on two tensors only
    "maximum(x, 1.0)": (lambda m: m.maximum(_x(m), 1.0), "maximum", TypeError),
    "x.minimum(1)": (lambda m: _x(m).minimum(1), "minimum", TypeError),
    "logical_and(x, 1)": (lambda m: m.logical_and(_x(m), 1), "logical_and", TypeError),
    "logical_or(True, x)": (lambda m: m.logical_or(True, _x(m)), "logical_or", TypeError),
    "x.logical_xor(0.5)": (lambda m: _x(m).logical_xor(0.5), "logical_xor", TypeError),
    # a dim that is not an int
    "sum(x, 1.0)": (lambda m: m.sum(_x(m), 1.0), "sum", TypeError),
    "amax(x, 1.0)": (lambda m: m.amax(_x(m), 1.0), "amax", TypeError),
    "sum(x, (0, 1.0))": (lambda m: m.sum(_x(m), (0, 1.0)), "sum", TypeError),
    "softmax(x, 1.0)": (lambda m: m.softmax(_x(m), 1.0), "softmax", TypeError),
    "unsqueeze(x, 1.0)": (lambda m: m.unsqueeze(_x(m), 1.0), "unsqueeze", TypeError),
    "transpose(x, 0, 1.0)": (lambda m: m.transpose(_x(m), 0, 1.0), "transpose", TypeError),
    "cat([x, x], 1.0)": (lambda m: m.cat([_x(m), _x(m)], 1.0), "cat", TypeError),
    "var(x, correction='a')": (lambda m: m.var(_x(m), correction="a"), "var", TypeError),
    "round(x, decimals=1.5)": (lambda m: m.round(_x(m), decimals=1.5), "round", TypeError),
    "max(x, keepdim=True)": (lambda m: m.max(_x(m), keepdim=True), "max", TypeError),
    "x.min(keepdim=True)": (lambda m: _x(m).min(keepdim=True), "min", TypeError),
    # sizes that are not integers
    "x.reshape(2.0, 3)": (lambda m: _x(m).reshape(2.0, 3), "reshape", TypeError),
    "x.view((2.5, 3))": (lambda m: _x(m).view((2.5, 3)), "view", TypeError),
    "x.expand(2.0, 3)": (lambda m: _x(m).expand(2.0, 3), "expand", TypeError),
    "x.permute(1.0, 0)": (lambda m: _x(m).permute(1.0, 0), "permute", TypeError),
    # shapes that do not broadcast, indices out of range
    "int | int of other shape": (lambda m: _i(m) | m.from_numpy(np.ones((3, 3), np.int64)), "bitwise_or", None),
    "allclose of other shapes": (lambda m: m.allclose(_x(m), m.ones(3, 3, dtype=m.float64)), "allclose", None),
    "x[5] = 1": (lambda m: _x(m).__setitem__(5, 1.0), "setitem", IndexError),
    "linear(x, 3-d weight)": (lambda m: m.nn.functional.linear(_x(m), m.ones(4, 3, 1, dtype=m.float64)), "linear",
                              RuntimeError),
    "adaptive_avg_pool2d(x, 3 sizes)": (lambda m: m.nn.functional.adaptive_avg_pool2d(m.ones(1, 1, 3, 3), (1, 2, 3)),
                                        "adaptive_avg_pool2d", None),
    "linear(x, 0-d weight)": (lambda m: m.nn.functional.linear(_x(m), m.tensor(1.0, dtype=m.float64)), "linear",
                              RuntimeError),
    "unbind(0-d)": (lambda m: m.unbind(m.tensor(1.0)), "unbind", IndexError),
    "clamp(x)": (lambda m: m.clamp(_x(m)), "clamp", RuntimeError),
    # in-place ops on tensors outside autograd
    "x.clamp_()": (lambda m: _x(m).clamp_(), "clamp_", RuntimeError),
    "x.copy_(other shape)": (lambda m: _x(m).copy_(m.ones(4, dtype=m.float64)), "copy_", None),
    "x.add_(broadcast larger)": (lambda m: _x(m).add_(m.ones(2, 1, 3, dtype=m.float64)), "add_", None),
    "int.add_(float)": (lambda m: _i(m).add_(_x(m)), "add_", None),
    "x.fill_(1-d tensor)": (lambda m: _x(m).fill_(m.ones(2, dtype=m.float64)), "fill_", RuntimeError),
    "x.fill_(broadcastable 1-d)": (lambda m: _x(m).fill_(m.ones(3, dtype=m.float64)), "fill_", RuntimeError),
    "y.fill_(broadcastable 1-d), autograd": (lambda m: (_x(m).requires_grad_() * 1).fill_(m.ones(3, dtype=m.float64)),
                                             "fill_", RuntimeError),
    "x.masked_fill_(mask, 1-d)": (lambda m: _x(m).masked_fill_(_x(m) > 0, m.ones(2, dtype=m.float64)),
                                  "masked_fill_", RuntimeError),
    "x.masked_fill_(mask, 1-d of the mask's count)": (
        lambda m: _x(m).masked_fill_(_x(m) > 3, m.ones(2, dtype=m.float64)), "masked_fill_", RuntimeError),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_argument_error_names_the_op(name):
    call, op, kind = CASES[name]
    with pytest.raises(Exception) as expected:  # noqa: PT011 - PyTorch's type is what is checked
        call(torch)
    with pytest.raises(Exception) as raised:  # noqa: PT011
        call(dg)
    # an OpError, or an error of the array library with the op and the shapes put in front
    assert str(raised.value).startswith(f"{op}: "), repr(raised.value)
    assert isinstance(raised.value, OpError) or "inputs of shapes" in str(raised.value), repr(raised.value)
    if kind is not None:
        assert isinstance(expected.value, kind) and isinstance(raised.value, kind), (expected.value, raised.value)


def test_non_tensor_message_names_the_argument():
    with pytest.raises(TypeError, match=r"^linear: argument 'weight' \(position 2\) must be Tensor, not float"):
        dg.nn.functional.linear(dg.ones(2, 3), 2.0)
    with pytest.raises(TypeError, match=r"^cat: element 1 of argument 'tensors' \(position 1\) must be Tensor"):
        dg.cat([dg.ones(2), 1.0])



def test_adaptive_avg_pool2d_to_no_elements_as_torch():
    a = np.arange(24.0).reshape(1, 2, 3, 4)
    for size in (0, (0, 2), (2, 0)):
        y = dg.nn.functional.adaptive_avg_pool2d(dg.tensor(a), size)
        assert tuple(y.shape) == tuple(torch.nn.functional.adaptive_avg_pool2d(torch.tensor(a), size).shape)


def test_gather_with_a_0d_index_into_a_1d_tensor_as_torch():
    a = np.array([1.5, -2.0, 3.25])
    for dim in (0, -1):
        x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = dg.gather(x, dim, dg.tensor(2)), torch.gather(tx, dim, torch.tensor(2))
        assert tuple(y.shape) == tuple(ty.shape) == ()
        assert y.item() == ty.item()
        (y * 3.0).backward()
        (ty * 3.0).backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def _lbfgs_with_vector_loss(m):
    p = m.nn.Parameter(m.ones(3))
    m.optim.LBFGS([p]).step(lambda: p * 2)


# Layers and ops of the second round: where PyTorch refuses the input, distgrad's message
# names the layer or op and the shapes or dtypes involved.
LAYER_CASES = {
    "MultiheadAttention, key batch != query batch": (
        lambda m: m.nn.MultiheadAttention(8, 2)(m.ones(4, 3, 8), m.ones(5, 2, 8), m.ones(5, 2, 8)),
        r"^MultiheadAttention: query and key must have the same batch size .*\(4, 3, 8\) and \(5, 2, 8\)"),
    "MultiheadAttention, float64 input": (
        lambda m: m.nn.MultiheadAttention(8, 2)(*[m.ones(5, 3, 8, dtype=m.float64)] * 3),
        r"^MultiheadAttention: input dtype float64 and parameter dtype float32 differ"),
    "interpolate to a negative size": (
        lambda m: m.nn.functional.interpolate(m.ones(1, 2, 4, 4), scale_factor=-2),
        r"^interpolate: output sizes must be greater than 0, got \[-8, -8\] .*\(1, 2, 4, 4\)"),
    "embedding_bag, per_sample_weights with mode mean": (
        lambda m: m.nn.functional.embedding_bag(m.tensor([1, 2]), m.ones(5, 3), m.tensor([0]), mode="mean",
                                                 per_sample_weights=m.ones(2)),
        r"^embedding_bag: per_sample_weights is only supported for mode='sum', got mode='mean'$"),
    "LBFGS, a closure returning a vector": (
        _lbfgs_with_vector_loss, r"^LBFGS.step: the closure must return the loss .*got shape \(3,\)"),
}


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_error_names_the_layer_and_the_shapes(name):
    call, message = LAYER_CASES[name]
    with pytest.raises(Exception):  # noqa: PT011 - only that PyTorch refuses it too
        call(torch)
    with pytest.raises(Exception, match=message):  # noqa: PT011
        call(dg)
