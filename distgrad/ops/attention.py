"""scaled_dot_product_attention as PyTorch's: softmax(q k^T * scale + mask) v in one node.

One Function holds the whole attention: the forward keeps the attention weights and the
backward writes the softmax's gradient directly (P * (dP - rowsum(dP * P))), so a step
records one node instead of a dozen and no (L, S) temporaries are kept twice. The matrix
products take heads split by ``view(...).transpose(1, 2)`` as the strided views they are
(BLAS reads rows of unit stride at any pitch); only layouts BLAS cannot read are copied.

Masks: a bool mask says which keys take part (True), a float mask is added to the scores;
both broadcast over the batch and head axes, and ``is_causal`` adds the lower-triangular
mask (on top of an explicit mask, as PyTorch's math kernel does). A row that no key may
attend to gives zeros (and zero gradients), as in PyTorch 2.5+. ``enable_gqa`` lets the
key and value have fewer heads (dim -3), each shared by a group of query heads.
"""
import math

from ..amp import autocast_mode
from ..errors import OpRuntimeError, OpTypeError, OpValueError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import unbroadcast
from .dropout import keep_mask
from .linalg import last_axis_sums, matmul_array

_OP = "scaled_dot_product_attention"


def _contiguous(xp, a):
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def _matmul_ready(xp, a):
    """``a`` as it lies where NumPy's matmul hands its matrices to BLAS (one of the last two
    axes of unit stride, as heads split by view + transpose are), else a contiguous copy: a
    copy there is a pass over memory for nothing, elsewhere it saves NumPy's slow loop."""
    if xp.__name__ == "numpy" and a.ndim >= 2 and a.size:
        rows, cols = a.strides[-2:]
        item = a.itemsize
        if (cols == item and rows >= a.shape[-1] * item and rows % item == 0) or \
                (rows == item and cols >= a.shape[-2] * item and cols % item == 0):
            return a
    return _contiguous(xp, a)


def _repeat_heads(xp, a, groups):
    """Each of a's heads (dim -3) repeated ``groups`` times in a row (repeat_interleave)."""
    return a if groups == 1 else xp.repeat(a, groups, axis=-3)


def _sum_head_groups(g, groups):
    """The gradient of _repeat_heads: each group of ``groups`` consecutive heads summed."""
    if groups == 1:
        return g
    shape = g.shape[:-3] + (g.shape[-3] // groups, groups) + g.shape[-2:]
    return g.reshape(shape).sum(axis=-3)


class ScaledDotProductAttention(Function):
    saves_inputs = True
    op_name = _OP

    def forward(self, xp, q, k, v, float_mask=None, bool_mask=None, causal=False, scale=1.0, dropout_p=0.0,
                groups=1):
        self.shapes = (q.shape, k.shape, v.shape, None if float_mask is None else float_mask.shape)
        self.scale, self.groups = scale, groups
        self.mask_dtype = None if float_mask is None else float_mask.dtype
        k = _matmul_ready(xp, _repeat_heads(xp, k, groups))
        v = _matmul_ready(xp, _repeat_heads(xp, v, groups))
        scaled_q = q * q.dtype.type(scale)  # contiguous, and smaller than the scores when E < S
        scores = matmul_array(xp, scaled_q, xp.swapaxes(k, -1, -2))
        if float_mask is not None:
            scores = scores + float_mask.astype(scores.dtype, copy=False)  # may broadcast to more axes
        if causal and bool_mask is None:
            scores += _causal_bias(xp, scores)
        elif causal or bool_mask is not None:
            keep = bool_mask if not causal else bool_mask & xp.tril(xp.ones(scores.shape[-2:], dtype=bool))
            scores = xp.where(keep, scores, scores.dtype.type(-math.inf))
        # the bound's limit check reads a device value on a GPU: the row maxima there, with no sync
        shift = (_shift_bound(xp, scaled_q, k) if float_mask is None and bool_mask is None and xp.__name__ == "numpy"
                 else None)
        weights = _softmax_in_place(xp, scores, shift)
        self.dropped = None
        if dropout_p > 0:
            self.dropped = keep_mask(xp, weights.shape, dropout_p, weights.dtype)
            used = weights * self.dropped
        else:
            used = weights
        self.saved = (scaled_q, k, v, weights)
        return matmul_array(xp, used, v)

    def backward(self, xp, g):
        scaled_q, k, v, weights = self.saved
        q_shape, k_shape, v_shape, mask_shape = self.shapes
        needs = self.needs_grad
        g = _matmul_ready(xp, g)
        used = weights if self.dropped is None else weights * self.dropped
        gv = _sum_head_groups(matmul_array(xp, xp.swapaxes(used, -1, -2), g), self.groups) if needs[2] else None
        d_weights = matmul_array(xp, g, xp.swapaxes(v, -1, -2))
        if self.dropped is not None:
            d_weights *= self.dropped
        # Softmax backward in place: dS = P * (dP - sum(dP * P)).
        row = last_axis_sums(xp, d_weights * weights)
        d_weights -= row
        d_weights *= weights
        d_scores = d_weights
        gmask = None
        if len(needs) > 3 and needs[3]:
            gmask = unbroadcast(d_scores, mask_shape).astype(self.mask_dtype, copy=False)
        gq = gk = None
        if needs[0]:
            gq = matmul_array(xp, d_scores, k)
            gq *= gq.dtype.type(self.scale)
            gq = unbroadcast(gq, q_shape)
        if needs[1]:  # d(q k^T scale)/dk through the saved scaled query
            gk = _sum_head_groups(matmul_array(xp, xp.swapaxes(d_scores, -1, -2), scaled_q), self.groups)
        grads = (gq, None if gk is None else unbroadcast(gk, k_shape),
                 None if gv is None else unbroadcast(gv, v_shape))
        return grads + ((gmask,) if len(needs) > 3 else ())


_causal_biases = {}


def _causal_bias(xp, scores):
    """0 on and below the diagonal, -inf above, for the scores' last two axes: added to them in
    place (cached: a training run asks for the same few sizes every step)."""
    size, dtype = scores.shape[-2:], scores.dtype
    key = (xp.__name__, str(getattr(scores, "device", "cpu")), size, dtype)
    bias = _causal_biases.get(key)
    if bias is None:
        if len(_causal_biases) > 64:
            _causal_biases.clear()
        bias = _causal_biases[key] = xp.triu(xp.full(size, -math.inf, dtype=dtype), 1)
    return bias


# A softmax's shift need only be at least the row's maximum (no overflow) and not far above
# it (no underflow): below this bound, the largest exp is at least e^-60, and what falls
# under float32's smallest normal weighs less than e^-27 of its row.
_SHIFT_BOUND_LIMIT = 30.0


def _shift_bound(xp, scaled_q, k):
    """Per row of the scores (..., L, 1): |q_i| max_j |k_j|, at least every score q_i . k_j
    (Cauchy-Schwarz), or None where some bound passes _SHIFT_BOUND_LIMIT (or is NaN) or the
    dtype is not float32/64. A pass over q and k, ~4x cheaper than NumPy's max over the
    scores' short rows (0.03 vs 0.12 ms at (8, 4, 64, 64) float32, timeit)."""
    if scaled_q.dtype not in (xp.float32, xp.float64) or not scaled_q.size or not k.size:
        return None
    q_norms = last_axis_sums(xp, scaled_q * scaled_q)
    k_norm = xp.swapaxes(last_axis_sums(xp, k * k), -1, -2).max(axis=-1, keepdims=True)
    bound = xp.sqrt(q_norms * k_norm)
    return bound if float(bound.max()) <= _SHIFT_BOUND_LIMIT else None


def _softmax_in_place(xp, scores, shift=None):
    """Softmax over the last axis, overwriting ``scores``; rows of only -inf give zeros.
    ``shift``: a bound from _shift_bound to subtract instead of the row maxima (its rows are
    never all -inf: only the causal mask may have been applied)."""
    if shift is not None:
        scores -= shift
        xp.exp(scores, out=scores)
        scores /= last_axis_sums(xp, scores)
        return scores
    top = scores.max(axis=-1, keepdims=True)
    empty = xp.isneginf(top)
    # NumPy skips the masks when no row is empty; a GPU always applies them rather than sync
    has_empty = bool(empty.any()) if xp.__name__ == "numpy" else True
    if has_empty:
        top = xp.where(empty, 0, top)
    scores -= top
    xp.exp(scores, out=scores)
    total = last_axis_sums(xp, scores)
    if has_empty:
        total = xp.where(empty, 1, total)
    scores /= total
    return scores


def _check(query, key, value, attn_mask, enable_gqa):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, TensorBase):
            raise OpTypeError(_OP, f"{name} must be a Tensor, got {type(t).__name__}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise OpRuntimeError(_OP, "query, key and value must have at least 2 dimensions (..., length, "
                                  f"features), got shapes {tuple(query.shape)}, {tuple(key.shape)} and "
                                  f"{tuple(value.shape)}")
    dtypes = {t.array.dtype for t in (query, key, value)}
    if len(dtypes) != 1:
        raise OpRuntimeError(_OP, f"query, key and value must have one dtype, got {query.array.dtype}, "
                                  f"{key.array.dtype} and {value.array.dtype}")
    if query.array.dtype.kind != "f":
        raise OpRuntimeError(_OP, f"expected floating point inputs, got {query.array.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise OpRuntimeError(_OP, f"query and key need the same feature size (last dimension), got shapes "
                                  f"{tuple(query.shape)} and {tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise OpRuntimeError(_OP, f"key and value need the same length (dimension -2), got shapes "
                                  f"{tuple(key.shape)} and {tuple(value.shape)}")
    if attn_mask is not None:
        if not isinstance(attn_mask, TensorBase):
            raise OpTypeError(_OP, f"attn_mask must be a Tensor or None, got {type(attn_mask).__name__}")
        if attn_mask.array.dtype.kind not in "bf":
            raise OpRuntimeError(_OP, f"attn_mask must be bool or floating, got {attn_mask.array.dtype}")
    groups = 1
    if enable_gqa and query.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hk != hv or hq % hk:
            raise OpRuntimeError(_OP, f"enable_gqa needs the query's heads ({hq}) to be a multiple of the "
                                      f"key's ({hk}) and value's ({hv}), which must be equal")
        groups = hq // hk
    return groups


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """PyTorch's F.scaled_dot_product_attention: query (..., L, E), key (..., S, E), value
    (..., S, Ev) -> (..., L, Ev); batch axes broadcast."""
    if autocast_mode.active:  # matmul-class: in the low dtype under autocast
        query, key, value, attn_mask = autocast_mode.to_low(query, key, value, attn_mask)
    groups = _check(query, key, value, attn_mask, enable_gqa)
    if is_causal and attn_mask is not None and attn_mask.ndim > 2:  # PyTorch combines only a 2-D mask
        raise OpRuntimeError(_OP, f"an attn_mask of shape {tuple(attn_mask.shape)} cannot be combined with "
                                  "is_causal=True (only a 2-D mask can); fold the causal mask into it instead")
    if not 0 <= dropout_p <= 1:
        raise OpValueError(_OP, f"dropout_p must be between 0 and 1, got {dropout_p}")
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    params = dict(causal=bool(is_causal), scale=scale, dropout_p=float(dropout_p), groups=groups)
    try:
        if attn_mask is not None and attn_mask.array.dtype.kind == "b":
            return ScaledDotProductAttention.apply(query, key, value, bool_mask=attn_mask.array, **params)
        if attn_mask is not None:
            return ScaledDotProductAttention.apply(query, key, value, attn_mask, **params)
        return ScaledDotProductAttention.apply(query, key, value, **params)
    except ValueError as error:  # shapes NumPy could not broadcast
        raise OpRuntimeError(_OP, f"shapes do not broadcast: query {tuple(query.shape)}, key {tuple(key.shape)}, "
                                  f"value {tuple(value.shape)}, attn_mask "
                                  f"{None if attn_mask is None else tuple(attn_mask.shape)}: {error}") from None
