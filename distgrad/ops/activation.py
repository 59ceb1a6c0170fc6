"""Activations and the (log-)softmax, numerically stable."""
import math
import threading

from .. import dtypes
from ..amp import autocast_mode
from ..errors import OpValueError
from ..function import Function
from ._util import normalize_dim, reject_bool, require_floating


class Relu(Function):
    saves_output = True

    def forward(self, xp, x):
        if xp.__name__ != "numpy":  # one launch on a GPU
            out = self.saved = xp.maximum(x, x.dtype.type(0))
            return out
        # max(x, 0) taken against an array of zeros, in place: NumPy vectorizes maximum of
        # two arrays but not against a scalar (2x slower: 5.8 vs 3.0 us on 32x128 float32, timeit).
        zeros = xp.zeros(x.shape, dtype=x.dtype)  # zeros_like is a slower Python-level function
        out = xp.maximum(x, zeros, out=zeros)
        self.saved = out
        return out

    def backward(self, xp, g):
        # `!= 0` rather than `> 0`: the output is 0 or positive, or NaN where the input is NaN,
        # which passes the gradient as in PyTorch.
        if xp.__name__ != "numpy":  # two launches on a GPU, the same products
            return (g * (self.saved != 0),)
        # A mask of g's dtype (a product of one dtype is faster than one mixing in booleans),
        # multiplied in place.
        mask = (self.saved != 0).astype(g.dtype)
        mask *= g
        return (mask,)


class LeakyRelu(Function):
    saves_inputs = True

    def forward(self, xp, x, slope):
        self.saved, self.slope = x, slope
        return xp.where(x > 0, x, x * slope)

    def backward(self, xp, g):
        return (xp.where(self.saved > 0, g, g * self.slope),)


class Sigmoid(Function):
    saves_output = True

    def forward(self, xp, x):
        out = xp.tanh(x * 0.5) * 0.5 + 0.5  # no overflow for large |x|
        self.saved = out
        return out

    def backward(self, xp, g):
        out = self.saved
        return (g * out * (1 - out),)


class Tanh(Function):
    saves_output = True

    def forward(self, xp, x):
        self.saved = xp.tanh(x)
        return self.saved

    def backward(self, xp, g):
        return (g * (1 - self.saved * self.saved),)


# Abramowitz & Stegun 7.1.26: erfc(z) ~ t P(t) exp(-z^2), t = 1 / (1 + p z), absolute error
# below 1.5e-7, a float32's worth, and PyTorch's vectorized float32 erf evaluates the same.
_AS_P = 0.3275911
_AS_COEFFS = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)  # t^5 down to t

_scratch = threading.local()  # per thread: two threads' forwards must not share buffers
_SCRATCH_MAX_BYTES = 8 << 20


def _scratch_like(xp, like, slot):
    """A scratch array of ``like``'s shape and dtype, reused across calls on NumPy: a fresh
    megabyte-sized temporary costs page faults every time (CuPy's memory pool has none). At
    most 8 arrays of up to 8 MiB each are kept, so a large model holds no large memory here."""
    if xp.__name__ != "numpy" or like.nbytes > _SCRATCH_MAX_BYTES:
        return xp.empty_like(like)
    arrays = _scratch.__dict__.setdefault("arrays", {})
    key = (slot, like.shape, like.dtype)
    array = arrays.get(key)
    if array is None:
        if len(arrays) >= 8:  # a few activation shapes per model; forget old ones
            arrays.clear()
        array = arrays[key] = xp.empty_like(like)
    return array


def erfc_precise(xp, x):
    """erfc to about 1e-13 relative, for float64 (the fitted ``erf`` is a float32's worth):
    1 - the Taylor series of erf below |x| = 2, a continued fraction above."""
    a = xp.abs(x)
    s = xp.minimum(a, 2.0)
    s2, term = s * s, s
    series = s
    for k in range(1, 40):
        term = term * -s2 / k
        series = series + term / (2 * k + 1)
    z = xp.maximum(a, 2.0)
    frac = z
    for k in range(40, 0, -1):
        frac = z + (k / 2) / frac
    tail = xp.where(a < 2, 1 - series * (2 / math.sqrt(math.pi)), xp.exp(-z * z) / (math.sqrt(math.pi) * frac))
    return xp.where(x >= 0, tail, 2 - tail)


def _gelu_parts(xp, flat):
    """GELU of a 1-D float32 ``flat`` and its derivative Phi(x) + x phi(x), in few passes
    over memory, in place where possible: the step of a Transformer spends much of its time
    here. Returns (output, derivative)."""
    inverse_p = math.sqrt(2) / _AS_P
    t = xp.abs(flat, out=_scratch_like(xp, flat, "gelu_t"))
    t += inverse_p
    xp.divide(inverse_p, t, out=t)               # t = 1 / (1 + p |x| / sqrt 2), in 3 passes
    a = xp.multiply(flat, flat, out=_scratch_like(xp, flat, "gelu_a"))
    a *= -0.5 * math.log2(math.e)
    e = xp.exp2(a, out=a)                        # exp(-x^2 / 2); NumPy's float32 exp2 is 2x its exp
    d = xp.multiply(t, 0.5 * _AS_COEFFS[0])      # Horner, in place, halved: h = erfc(|x| / sqrt 2) / 2
    for c in _AS_COEFFS[1:]:
        d += 0.5 * c
        d *= t
    d *= e
    # Phi = 0.5 + sign(x) (0.5 - h): h below 0, 1 - h above, with x's sign bit put on 0.5 - h
    # by integer ops: copysign has no SIMD loop in NumPy (6x an add), and a select (where(),
    # or ufuncs' where=) ran ~10x slower on a mixed-sign activation here.
    xp.subtract(0.5, d, out=d)
    signs = xp.bitwise_and(flat.view(xp.uint32), 0x80000000, out=t.view(xp.uint32))
    xp.bitwise_xor(d.view(xp.uint32), signs, out=d.view(xp.uint32))
    d += 0.5
    out = flat * d
    phi = xp.multiply(flat, 1 / math.sqrt(2 * math.pi), out=t)
    phi *= e
    d += phi                                     # Phi(x) + x phi(x)
    return out, d


def _gelu_parts_erf(xp, x):
    """GELU and its derivative from CuPy's error function (one kernel, exact to the dtype):
    12 launches on a GPU, where the fitted polynomial of _gelu_parts takes 24 (and the float64
    series of _gelu_parts_float64 over 200)."""
    from cupyx.scipy.special import erf  # CuPy's companion; only reached with CuPy arrays
    cdf = erf(x * (1 / math.sqrt(2)))
    cdf += 1
    cdf *= 0.5
    out = x * cdf
    derivative = x * x
    derivative *= -0.5
    xp.exp(derivative, out=derivative)
    derivative *= x
    derivative *= 1 / math.sqrt(2 * math.pi)
    derivative += cdf  # Phi(x) + x phi(x)
    return out, derivative


def _gelu_parts_float64(xp, x):
    """As _gelu_parts to full float64 precision (1e-13), from the precise erfc."""
    cdf = 0.5 * erfc_precise(xp, -x / math.sqrt(2))
    return x * cdf, cdf + x * (xp.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi)))


def _gelu_fused(xp, x, approximate):
    """GELU and its derivative from one CuPy kernel (kernels.gelu), float16 in float32 for
    approximate="none" as the erf path; None where the kernel does not apply (NumPy arrays,
    float16 with "tanh", or the kernels off)."""
    if xp.__name__ == "numpy":
        return None
    from ..cuda import kernels  # imports no CuPy of its own; only reached with GPU arrays
    if approximate == "none" and x.dtype == xp.float16:
        x = x.astype(xp.float32)
    return kernels.gelu(x, approximate) if kernels.fusable(x) else None


class Gelu(Function):
    saves_inputs = True
    _SQRT_2_OVER_PI = math.sqrt(2 / math.pi)

    def forward(self, xp, x, approximate="none"):
        self.saved, self.approximate, self.derivative = x, approximate, None
        fused = _gelu_fused(xp, x, approximate)
        if fused is not None:
            out, self.derivative = fused
            return out.astype(x.dtype, copy=False)
        if approximate == "tanh":
            inner = self._SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
            return 0.5 * x * (1 + xp.tanh(inner))
        if xp.__name__ != "numpy":  # float16 in float32, as below
            out, self.derivative = _gelu_parts_erf(xp, x.astype(xp.float32) if x.dtype == xp.float16 else x)
            return out.astype(x.dtype, copy=False)
        if x.dtype == xp.float64:
            out, self.derivative = _gelu_parts_float64(xp, x)
            return out
        # As 1-D: in-place ufuncs need arrays, and a 0-d array's products are NumPy scalars.
        # float16 in float32, as PyTorch's CPU kernel.
        out, self.derivative = _gelu_parts(xp, x.reshape(-1).astype(xp.float32, copy=False))
        return out.astype(x.dtype, copy=False).reshape(x.shape)

    def backward(self, xp, g):
        x = self.saved
        if self.derivative is None:  # tanh, not fused
            inner = self._SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
            th = xp.tanh(inner)
            d_inner = self._SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return (g * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * d_inner),)
        # The derivative came with the forward (it shares exp(-x^2 / 2) with the output)
        grad = g.reshape(-1) * self.derivative.reshape(-1)
        return (grad.astype(x.dtype, copy=False).reshape(x.shape),)


class Softmax(Function):
    saves_output = True

    def forward(self, xp, x, dim):
        self.dim = dim
        if x.size == 0:  # no max to subtract
            self.saved = x
            return x.copy()
        shifted = x - x.max(axis=dim, keepdims=True)
        e = xp.exp(shifted)
        out = e / e.sum(axis=dim, keepdims=True)
        self.saved, self.dim = out, dim
        return out

    def backward(self, xp, g):
        out = self.saved
        return (out * (g - (g * out).sum(axis=self.dim, keepdims=True)),)


class LogSoftmax(Function):
    saves_output = True

    def forward(self, xp, x, dim):
        out = log_softmax_array(xp, x, dim) if x.size else x.copy()
        self.saved, self.dim = out, dim
        return out

    def backward(self, xp, g):
        return (g - xp.exp(self.saved) * g.sum(axis=self.dim, keepdims=True),)


def log_softmax_array(xp, x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


# ---------------------------------------------------------------- functional API

def relu(input):
    reject_bool("relu", input)
    return Relu.apply(input)


def leaky_relu(input, negative_slope=0.01):
    require_floating("leaky_relu", input)
    return LeakyRelu.apply(input, slope=negative_slope)


def _as_floating(input):
    """Integer and bool inputs in the default floating dtype, as PyTorch's unary float ops."""
    return input if input.array.dtype.kind == "f" else input.to(dtypes.get_default_dtype())


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise OpValueError("gelu", f"approximate must be 'none' or 'tanh', got {approximate!r}")
    require_floating("gelu", input)
    return Gelu.apply(input, approximate=approximate)


def sigmoid(input):
    return Sigmoid.apply(_as_floating(input))


def tanh(input):
    return Tanh.apply(_as_floating(input))


def _softmax_dim(input, dim, op):
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return normalize_dim(dim, input.ndim, op)[0]


def softmax(input, dim=None, dtype=None):
    if dtype is None and autocast_mode.active:  # float32 under CUDA autocast
        (input,) = autocast_mode.to_float32("softmax", input)
    if dtype is not None:
        input = input.to(dtype)
    require_floating("softmax", input, empty_ok=True)
    return Softmax.apply(input, dim=_softmax_dim(input, dim, "softmax"))


def log_softmax(input, dim=None, dtype=None):
    if dtype is None and autocast_mode.active:  # float32 under CUDA autocast
        (input,) = autocast_mode.to_float32("log_softmax", input)
    if dtype is not None:
        input = input.to(dtype)
    require_floating("log_softmax", input, empty_ok=True)
    return LogSoftmax.apply(input, dim=_softmax_dim(input, dim, "log_softmax"))
