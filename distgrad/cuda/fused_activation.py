"""relu(x + bias) in one kernel on the GPU (kernels.bias_relu), one more for its backward.

``linear_relu(x, weight, bias)`` is the hidden layer of an MLP with the bias add fused into
the activation. On the CPU both are the plain ops, so the same model runs everywhere.
"""
from ..function import Function
from ..ops.activation import relu
from ..ops.linalg import linear
from ..ops._util import unbroadcast
from . import kernels


class BiasRelu(Function):
    saves_output = True

    def forward(self, xp, x, bias):
        out = kernels.bias_relu(x, bias)
        self.saved, self.bias_shape = out, bias.shape
        return out

    def backward(self, xp, g):
        gx = kernels.relu_backward(g, self.saved)
        gb = unbroadcast(gx, self.bias_shape) if self.needs_grad[1] else None
        return (gx if self.needs_grad[0] else None), gb


def bias_relu(input, bias):
    """``relu(input + bias)``, the bias broadcast over the last dimension."""
    if input.is_cuda and kernels.fusable(input.array, bias.array):
        return BiasRelu.apply(input, bias)
    return relu(input + bias)


def linear_relu(input, weight, bias):
    """``relu(linear(input, weight, bias))`` with the bias add fused into the ReLU on the GPU."""
    return bias_relu(linear(input, weight), bias)
