"""Conv1d / Conv2d and ConvTranspose1d / ConvTranspose2d over (N, C, L) and (N, C, H, W) inputs."""
from . import functional as F
from .linear import WeightedLayer, _empty_parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value, n):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _ConvNd(WeightedLayer):
    """The arguments, parameters (PyTorch's names, shapes and init) and repr shared by the
    convolutions; subclasses set the dims and the functional op."""
    dims = 2
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, output_padding=0):
        super().__init__()
        name, n = type(self).__name__, self.dims
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must be positive and divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        if padding_mode not in PADDING_MODES or (self.transposed and padding_mode != "zeros"):
            allowed = ("zeros",) if self.transposed else PADDING_MODES
            raise ValueError(f"{name}: padding_mode must be one of {allowed}, got {padding_mode!r}")
        if isinstance(padding, str):
            if self.transposed or padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding={padding!r} must be 'same', 'valid', an int or a tuple")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, n)):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _ntuple(kernel_size, n), _ntuple(stride, n)
        self.dilation, self.output_padding = _ntuple(dilation, n), _ntuple(output_padding, n)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n)
        self.padding_mode = padding_mode
        if self.transposed:
            self.weight = _empty_parameter((in_channels, out_channels // groups) + self.kernel_size, device, dtype)
            if bias:
                self.bias = _empty_parameter((out_channels,), device, dtype)
            else:
                self.register_parameter("bias", None)
            self.reset_parameters()
        else:
            self._create_parameters((out_channels, in_channels // groups) + self.kernel_size, bias, device, dtype)

    def _explicit_padding(self):
        """F.pad's argument for a non-zeros padding_mode: (before, after) per dim, last dim first."""
        if self.padding == "valid":
            amounts = [(0, 0)] * self.dims
        elif self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            amounts = [(t // 2, t - t // 2) for t in totals]
        else:
            amounts = [(p, p) for p in self.padding]
        return tuple(v for pair in reversed(amounts) for v in pair)

    def _conv(self, input, conv):
        if self.padding_mode == "zeros":
            return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        padded = F.pad(input, self._explicit_padding(), mode=self.padding_mode)
        return conv(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self):
        n = self.dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    dims = 1

    def forward(self, input):
        return self._conv(input, F.conv1d)


class Conv2d(_ConvNd):
    def forward(self, input):
        return self._conv(input, F.conv2d)


class _ConvTransposeNd(_ConvNd):
    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding)

    def _output_padding(self, input, output_size):
        """PyTorch's rule: an ``output_size`` (the last dims' sizes, or with batch and
        channels) picks the output_padding that reaches it."""
        if output_size is None:
            return self.output_padding
        n = self.dims
        sizes = list(output_size)[-n:]
        if len(sizes) != n:
            raise ValueError(f"{type(self).__name__}: output_size must have {n} or {n + 2} elements (got "
                             f"{len(list(output_size))})")
        extra = []
        for k, size in enumerate(sizes):
            smallest = ((input.shape[input.ndim - n + k] - 1) * self.stride[k] - 2 * self.padding[k]
                        + self.dilation[k] * (self.kernel_size[k] - 1) + 1)
            if not smallest <= size < smallest + self.stride[k]:
                raise ValueError(f"requested an output size of {sizes}, but valid sizes range from {smallest} "
                                 f"to {smallest + self.stride[k] - 1} (for an input of {list(input.shape[2:])})")
            extra.append(size - smallest)
        return tuple(extra)


class ConvTranspose1d(_ConvTransposeNd):
    dims = 1

    def forward(self, input, output_size=None):
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    def forward(self, input, output_size=None):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)
