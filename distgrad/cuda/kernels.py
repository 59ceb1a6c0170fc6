"""Fused CuPy kernels: one launch where the generic array code takes several.

Each kernel is written down as data (``ELEMENTWISE`` and ``RAW`` below), built on first use and
cached by CuPy. Elementwise kernels are compiled with ``--fmad=false``: every product and sum
is then rounded on its own, as in NumPy's separate steps, so a fused optimizer update gives
the CPU's result (division and square root are IEEE-rounded by NVRTC's defaults).
tests/gpu/test_gpu_kernels.py holds each kernel's CPU reference formula.

Nothing here imports CuPy: ``distgrad.backend.cupy`` is None without it, and these
functions are only called with CuPy arrays.
"""
import functools
import math

import numpy

from ..backend import cupy

EXACT_ROUNDING = ("--fmad=false",)
FUSED_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))

# Shared by the update rules: the gradient with maximize and L2 weight decay applied, in
# optim/_arrays.effective_grad's order (weight_decay * param first, then +/- grad).
_PREAMBLE = """
template <typename T>
__device__ T effective_grad(T p, T g, T weight_decay, bool maximize) {
    if (weight_decay == T(0)) return maximize ? -g : g;
    T decayed = p * weight_decay;
    return maximize ? decayed - g : decayed + g;
}
"""

_ADAM_IN = ("T g, T decay, bool decoupled, T l2, bool maximize, T lerp_w, bool lerp_small, T beta2, "
            "T one_minus_beta2, T bc2_sqrt, T eps, T step_size")
_ADAM_BODY = """
    if (decoupled) p = p * decay;
    T d = effective_grad(p, g, l2, maximize);
    T diff = d - m;
    m = lerp_small ? m + diff * lerp_w : d - diff * lerp_w;
    v = v * beta2;
    v = v + (d * one_minus_beta2) * d;
    {second}
    T denom = sqrt(second) / bc2_sqrt + eps;
    p = p + (m * step_size) / denom;
"""

# One LSTM step's pointwise work, gates in ops/rnn.py's order o, i, f, g: each gate is a
# (rows, H) view of one (rows, 4H) array. Sigmoid gates arrive halved (their weights are), so
# sigmoid(x) = 0.5 tanh(x / 2) + 0.5 is one tanh, as in the generic path. Every product and sum
# is in the generic path's order, so only tanh's own rounding can differ from NumPy's.
_LSTM_BACKWARD_SAVED = "T o_act, T i_act, T f_act, T g_act, T tanh_c, T c_prev"
_LSTM_BACKWARD_OUT = "T o_grad, T i_grad, T f_grad, T g_grad, T dc"
_LSTM_BACKWARD_BODY = """
    {dh_total}
    T dc_total = dc + dh_total * (o_act * (T(1) - tanh_c * tanh_c));
    o_grad = dh_total * ((o_act * (T(1) - o_act)) * tanh_c);
    i_grad = dc_total * ((i_act * (T(1) - i_act)) * g_act);
    f_grad = dc_total * ((f_act * (T(1) - f_act)) * c_prev);
    g_grad = dc_total * ((T(1) - g_act * g_act) * i_act);
    dc = dc_total * f_act;  // the gradient of the previous cell state
"""

# GELU and its derivative, products in activation.py's order; constants as Python rounds them.
_GELU_BODY = """
    T cdf = (erf(x * T({inv_sqrt2!r})) + T(1)) * T(0.5);
    out = x * cdf;
    derivative = (exp((x * x) * T(-0.5)) * x) * T({inv_sqrt_2pi!r}) + cdf;  // Phi(x) + x phi(x)
""".format(inv_sqrt2=1 / math.sqrt(2), inv_sqrt_2pi=1 / math.sqrt(2 * math.pi))
_GELU_TANH_BODY = """
    T k = T({sqrt_2_over_pi!r});
    T th = tanh(k * (x + T(0.044715) * pow(x, T(3))));
    T half_x = T(0.5) * x;
    out = half_x * (T(1) + th);
    T d_inner = k * (T(1) + (T({three_c!r}) * x) * x);
    derivative = T(0.5) * (T(1) + th) + (half_x * (T(1) - th * th)) * d_inner;
""".format(sqrt_2_over_pi=math.sqrt(2 / math.pi), three_c=3 * 0.044715)

# name -> (in_params, out_params, body); all take the parameter's dtype as T.
ELEMENTWISE = {
    "sgd": ("T g, T neg_lr, T weight_decay, bool maximize", "T p",
            "p = p + effective_grad(p, g, weight_decay, maximize) * neg_lr;"),
    "sgd_momentum": (
        "T g, T neg_lr, T weight_decay, bool maximize, T momentum, T damp_scale, bool dampen, bool nesterov",
        "T p, T buf",
        """
        T d = effective_grad(p, g, weight_decay, maximize);
        buf = buf * momentum;
        buf = dampen ? buf + d * damp_scale : buf + d;
        d = nesterov ? d + buf * momentum : buf;
        p = p + d * neg_lr;
        """),
    "adam": (_ADAM_IN, "T p, T m, T v", _ADAM_BODY.replace("{second}", "T second = v;")),
    # numpy.maximum's NaN rule: a NaN on either side wins
    "adam_amsgrad": (_ADAM_IN, "T p, T m, T v, T vmax", _ADAM_BODY.replace(
        "{second}", "vmax = (v > vmax || v != v) ? v : vmax; T second = vmax;")),
    # softmax minus one-hot, times the upstream gradient; rows whose target is ignored get 0,
    # rows whose target is out of range NaN
    "cross_entropy_backward": (
        "raw T x, raw T lse, raw I t, raw T scale, int64 c, int64 ignore, bool per_row", "T grad",
        """
        long long k = i, row = k / c, col = k - row * c;
        long long target = t[row];
        if (target == ignore) {
            grad = T(0);
        } else if (target < 0 || target >= c) {
            grad = T(nan(""));  // a bad target, unchecked on the GPU: NaN, never a wrong gradient
        } else {
            T p = exp(x[k] - lse[row]);
            grad = (col == target ? p - T(1) : p) * scale[per_row ? row : 0];
        }
        """),
    # NaN passes through both ways, as in PyTorch (and the NumPy path): "not <= 0", not "> 0".
    "bias_relu": ("T y, T b", "T out", "T s = y + b; out = s <= T(0) ? T(0) : s;"),
    "relu_backward": ("T g, T out", "T gy", "gy = out <= T(0) ? T(0) : g;"),
    # the gate arrays hold h_prev @ W_hh^T on entry, the activations on return
    "lstm_cell_forward": (
        "T pre_o, T pre_i, T pre_f, T pre_g, T c_prev", "T o_act, T i_act, T f_act, T g_act, T c, T tanh_c, T h",
        """
        o_act = tanh(o_act + pre_o) * T(0.5) + T(0.5);
        i_act = tanh(i_act + pre_i) * T(0.5) + T(0.5);
        f_act = tanh(f_act + pre_f) * T(0.5) + T(0.5);
        g_act = tanh(g_act + pre_g);
        c = f_act * c_prev + i_act * g_act;
        tanh_c = tanh(c);
        h = o_act * tanh_c;
        """),
    # dh: the gradient of h from the next step, dy: the layer output's; dc is updated in place
    "lstm_cell_backward": ("T dh, T dy, " + _LSTM_BACKWARD_SAVED, _LSTM_BACKWARD_OUT,
                           _LSTM_BACKWARD_BODY.replace("{dh_total}", "T dh_total = dh + dy;")),
    # with a projection dh is already the whole gradient of o * tanh(c)
    "lstm_cell_backward_projected": ("T dh, " + _LSTM_BACKWARD_SAVED, _LSTM_BACKWARD_OUT,
                                     _LSTM_BACKWARD_BODY.replace("{dh_total}", "T dh_total = dh;")),
    "gelu": ("T x", "T out, T derivative", _GELU_BODY),
    "gelu_tanh": ("T x", "T out, T derivative", _GELU_TANH_BODY),
}

RAW = {
    # One warp per row: lanes stride over the classes and combine with shuffles. Writes the
    # row's log-sum-exp, its loss (lse - x[target], 0 when ignored, NaN when the target is out
    # of range) to stats[row] and 1 or 0 (counted or ignored) to stats[n + row].
    "cross_entropy_forward": """
typedef {ctype} T;
extern "C" __global__ void cross_entropy_forward(const T* x, const long long* t, long long n,
                                                 long long c, long long ignore, T* lse, T* stats) {
    long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (row >= n) return;  // whole warps leave together: blockDim.x is a multiple of 32
    const T* xr = x + row * c;
    T m = xr[0];
    for (long long j = lane; j < c; j += 32) m = xr[j] > m ? xr[j] : m;
    for (int off = 16; off > 0; off /= 2) {
        T other = __shfl_xor_sync(0xffffffffu, m, off);
        m = other > m ? other : m;
    }
    T s = 0;
    for (long long j = lane; j < c; j += 32) s += exp(xr[j] - m);
    for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) {
        T l = m + log(s);
        long long target = t[row];
        bool counted = target != ignore;
        bool bad = counted && (target < 0 || target >= c);  // unchecked on the GPU: NaN, no stray read
        lse[row] = l;
        stats[row] = bad ? T(nan("")) : counted ? l - xr[target] : T(0);
        stats[n + row] = counted ? T(1) : T(0);
    }
}
""",
    # Bucket packing: table holds n array addresses, then their n + 1 offsets in flat.
    # blockIdx.y picks the array, blockIdx.x and the threads stride over its elements.
    "copy_segments": """
typedef {ctype} E;
extern "C" __global__ void copy_segments(const long long* table, long long n, E* flat, int to_flat) {
    for (long long a = blockIdx.y; a < n; a += gridDim.y) {
        E* array = (E*)table[a];
        long long start = table[n + a], size = table[n + a + 1] - start;
        long long stride = (long long)gridDim.x * blockDim.x;
        for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < size; j += stride) {
            if (to_flat) flat[start + j] = array[j];
            else array[j] = flat[start + j];
        }
    }
}
""",
}

_FLOAT_CTYPES = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}
_COPY_CTYPES = {1: "unsigned char", 2: "unsigned short", 4: "unsigned int", 8: "unsigned long long"}


@functools.lru_cache(maxsize=None)
def elementwise(name):
    in_params, out_params, body = ELEMENTWISE[name]
    return cupy.ElementwiseKernel(in_params, out_params, body, name=f"distgrad_{name}",
                                  preamble=_PREAMBLE, options=EXACT_ROUNDING)


@functools.lru_cache(maxsize=None)
def raw(name, ctype):
    return cupy.RawKernel(RAW[name].replace("{ctype}", ctype), name)


def fusable(*arrays):
    """True when the fused update kernels take these arrays: CuPy, one float dtype."""
    dtype = arrays[0].dtype
    return dtype in FUSED_DTYPES and all(isinstance(a, cupy.ndarray) and a.dtype == dtype for a in arrays)


# ----------------------------------------------------------------- optimizer updates
def sgd_(param, grad, buf, group):
    """SGD in one launch: ``buf`` is the momentum buffer, None without momentum."""
    common = (grad, -group["lr"], group["weight_decay"], bool(group["maximize"]))
    if buf is None:
        elementwise("sgd")(*common, param)
        return
    dampening = group["dampening"]
    elementwise("sgd_momentum")(*common, group["momentum"], 1 - dampening, bool(dampening),
                                bool(group["nesterov"]), param, buf)


def adam_(param, grad, state, group):
    """Adam / AdamW (amsgrad too) in one launch; the scalars as adam.py computes them."""
    lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
    decoupled = group["decoupled_weight_decay"]
    step = state["step"] = state["step"] + 1
    weight = 1 - beta1  # exp_avg moves toward the gradient by this much (lerp)
    scalars = (1 - lr * weight_decay, bool(weight_decay and decoupled), 0 if decoupled else weight_decay,
               bool(group["maximize"]), weight if weight < 0.5 else 1 - weight, weight < 0.5, beta2,
               1 - beta2, (1 - beta2 ** step) ** 0.5, group["eps"], -lr / (1 - beta1 ** step))
    moments = (param, state["exp_avg"].array, state["exp_avg_sq"].array)
    if group["amsgrad"]:
        elementwise("adam_amsgrad")(grad, *scalars, *moments, state["max_exp_avg_sq"].array)
    else:
        elementwise("adam")(grad, *scalars, *moments)


# ----------------------------------------------------------------- softmax cross-entropy
def cross_entropy_forward(x, t, ignore_index):
    """``x`` (n, c) C-contiguous logits, ``t`` (n,) int64 targets. Returns ``lse`` (n,) and
    ``stats`` (2, n): per-row losses, then 1 for each counted row and 0 for ignored ones."""
    n, c = x.shape
    lse = cupy.empty(n, x.dtype)
    stats = cupy.empty((2, n), x.dtype)
    if n:
        rows_per_block = 8
        raw("cross_entropy_forward", _FLOAT_CTYPES[x.dtype])(
            ((n + rows_per_block - 1) // rows_per_block,), (32 * rows_per_block,),
            (x, t, numpy.int64(n), numpy.int64(c), numpy.int64(ignore_index), lse, stats))
    return lse, stats


def cross_entropy_backward(x, lse, t, scale, ignore_index):
    """The gradient of the losses: softmax(x) - onehot(t), times ``scale`` (one value, or one
    per row), zero for ignored rows."""
    grad = cupy.empty(x.shape, x.dtype)
    elementwise("cross_entropy_backward")(x, lse, t, scale, x.shape[1], ignore_index, scale.size > 1, grad)
    return grad


# ----------------------------------------------------------------- bias + ReLU
def bias_relu(y, bias):
    return elementwise("bias_relu")(y, bias)


def relu_backward(g, out):
    return elementwise("relu_backward")(g, out)


# ----------------------------------------------------------------- LSTM cell
def _gate_blocks(gates):
    """(rows, 4H) -> its four (rows, H) gate views, o, i, f, g."""
    H = gates.shape[1] // 4
    return tuple(gates[:, k * H:(k + 1) * H] for k in range(4))


def lstm_cell_forward(gates, pre, c_prev, c, tanh_c, h):
    """One LSTM step after h_prev @ W_hh^T, in one launch. ``gates`` (rows, 4H) holds that
    product and receives the activations; ``pre`` is the projected input (halved as ``gates``);
    ``c``, ``tanh_c`` and ``h`` (rows, H) receive the new cell state, its tanh and o * tanh(c)."""
    elementwise("lstm_cell_forward")(*_gate_blocks(pre), c_prev, *_gate_blocks(gates), c, tanh_c, h)


def lstm_cell_backward(dh, dy, acts, tanh_c, c_prev, gate_grads, dc):
    """One LSTM step's pointwise backward in one launch: the gradients of the gates'
    pre-activations into ``gate_grads`` (rows, 4H) and of the previous cell state into ``dc``
    (which holds this step's on entry). ``dh + dy`` is the gradient of h; ``dy`` None: ``dh``
    alone (the gradient of o * tanh(c) below a projection)."""
    saved = (*_gate_blocks(acts), tanh_c, c_prev)
    grads = (*_gate_blocks(gate_grads), dc)
    if dy is None:
        elementwise("lstm_cell_backward_projected")(dh, *saved, *grads)
    else:
        elementwise("lstm_cell_backward")(dh, dy, *saved, *grads)


# ----------------------------------------------------------------- GELU
def gelu(x, approximate):
    """GELU (``approximate`` "none" or "tanh") and its derivative, in one launch."""
    return elementwise("gelu_tanh" if approximate == "tanh" else "gelu")(x)


# ----------------------------------------------------------------- bucket packing
def can_copy_segments(arrays, flat):
    """True when copy_segments can move these arrays: CuPy, C-contiguous, flat's dtype."""
    return (isinstance(flat, cupy.ndarray) and flat.flags.c_contiguous and flat.itemsize in _COPY_CTYPES
            and all(isinstance(a, cupy.ndarray) and a.flags.c_contiguous and a.dtype == flat.dtype
                    and a.device.id == flat.device.id for a in arrays))


def copy_segments(arrays, flat, to_flat):
    """Copy every array into its slot of ``flat`` (or back, ``to_flat=False``) in one launch."""
    sizes = tuple(a.size for a in arrays)
    if not sizes or max(sizes) == 0:
        return
    table = _segment_table(tuple(a.data.ptr for a in arrays), sizes, flat.device.id)
    threads = 256
    grid = (min((max(sizes) + threads - 1) // threads, 1024), min(len(sizes), 65535))
    raw("copy_segments", _COPY_CTYPES[flat.itemsize])(
        grid, (threads,), (table, numpy.int64(len(sizes)), flat, numpy.int32(1 if to_flat else 0)))


@functools.lru_cache(maxsize=256)
def _segment_table(pointers, sizes, device_id):
    """Addresses and offsets on the device; cached, as a bucket packs the same arrays every step."""
    offsets = numpy.concatenate([[0], numpy.cumsum(sizes, dtype=numpy.int64)])
    host = numpy.concatenate([numpy.array(pointers, dtype=numpy.uint64).view(numpy.int64), offsets])
    with cupy.cuda.Device(device_id):
        return cupy.asarray(host)
