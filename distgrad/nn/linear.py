"""Linear (y = x W^T + b), Bilinear (y = x1^T A x2 + b) and Identity."""
import math

from .. import creation
from . import functional as F, init
from .module import Module
from .parameter import Parameter


def _empty_parameter(shape, device, dtype):
    return Parameter(creation.empty(*shape, device=device, dtype=dtype))


class WeightedLayer(Module):
    """A layer with a ``weight`` of shape (out, ...) and an optional ``bias`` of shape (out,),
    initialised as PyTorch's Linear and Conv: kaiming_uniform_(a=sqrt(5)) for the weight,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias."""

    def _create_parameters(self, weight_shape, bias, device, dtype):
        self.weight = _empty_parameter(weight_shape, device, dtype)
        if bias:
            self.bias = _empty_parameter(weight_shape[:1], device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)


class Bilinear(Module):
    """``y_o = x1^T A_o x2 + b_o``; weight and bias drawn from U(-1/sqrt(in1), 1/sqrt(in1)), as PyTorch's."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = _empty_parameter((out_features, in1_features, in2_features), device, dtype)
        if bias:
            self.bias = _empty_parameter((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(WeightedLayer):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._create_parameters((out_features, in_features), bias, device, dtype)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
