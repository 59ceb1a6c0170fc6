"""Parameter initialisation (PyTorch's torch.nn.init): every function fills the tensor in
place, outside autograd, from distgrad's seeded generator, and returns the tensor."""
import math

from ..random import generator_for


def calculate_gain(nonlinearity, param=None):
    """The recommended scale of the weights for a given non-linearity."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions "
                         f"(shape {tuple(tensor.shape)})")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    """Write freshly drawn ``values`` into the tensor's own array (dtype kept)."""
    tensor.array[...] = values
    tensor._bump_version()
    return tensor


def _rng(tensor, generator):
    return generator.rng if generator is not None else generator_for(tensor.xp)


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    return _fill(tensor, _rng(tensor, generator).uniform(a, b, size=tensor.array.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    return _fill(tensor, _rng(tensor, generator).normal(mean, std, size=tensor.array.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Normal(mean, std) restricted to [a, b]: out-of-range draws are redrawn."""
    if not a < b:
        raise ValueError(f"trunc_normal_: lower bound a={a} must be below upper bound b={b}")
    rng, xp, shape = _rng(tensor, generator), tensor.xp, tensor.array.shape
    values = rng.normal(mean, std, size=shape)
    for _ in range(100):
        bad = (values < a) | (values > b)
        if not bool(bad.any()):
            break
        values = xp.where(bad, rng.normal(mean, std, size=shape), values)
    return _fill(tensor, xp.clip(values, a, b))  # clip only matters for extreme bounds


def constant_(tensor, val):
    tensor.array.fill(val)
    tensor._bump_version()
    return tensor


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tuple(tensor.shape)}")
    return _fill(tensor, tensor.xp.eye(*tensor.array.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    xp, rows = tensor.xp, tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(tensor, generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.array.shape))


def dirac_(tensor, groups=1):
    """The identity convolution: each of the first min(out, in) channels of every group passes
    its input channel through at the kernel's centre (3-, 4- and 5-D weights)."""
    if not 3 <= tensor.ndim <= 5:
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    out_channels, in_channels = tensor.shape[0], tensor.shape[1]
    if out_channels % groups:
        raise ValueError(f"dirac_: dim 0 ({out_channels}) must be divisible by groups ({groups})")
    per_group = out_channels // groups
    values = tensor.xp.zeros(tensor.array.shape, dtype=tensor.array.dtype)
    centre = tuple(s // 2 for s in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, in_channels)):
            values[(g * per_group + d, d) + centre] = 1
    return _fill(tensor, values)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """Normal(0, std) entries with a fraction ``sparsity`` of every column set to zero (rows
    chosen at random per column), for 2-D tensors."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: only tensors with 2 dimensions are supported, got shape {tuple(tensor.shape)}")
    rows, cols = tensor.shape
    rng, xp = _rng(tensor, generator), tensor.xp
    values = rng.normal(0.0, std, size=(rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for col in range(cols):
        values[rng.permutation(rows)[:zeros], col] = 0
    return _fill(tensor, xp.asarray(values))
