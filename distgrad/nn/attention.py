"""MultiheadAttention as PyTorch's: its parameter names, initialisation and mask conventions.

Parameters: ``in_proj_weight`` (3E, E) when key and value have the embedding size, else
``q_proj_weight``/``k_proj_weight``/``v_proj_weight``; ``in_proj_bias`` (3E); ``out_proj``;
``bias_k``/``bias_v`` with add_bias_kv. So state_dicts load both ways with torch.

Masks speak PyTorch's MultiheadAttention language, the opposite of scaled_dot_product_
attention's for bool masks: True in ``key_padding_mask`` (N, S) or ``attn_mask`` (L, S) or
(N*heads, L, S) means "do not attend"; float masks are added to the scores.

With ``need_weights=False`` (what the Transformer layers ask for) the heads go through the
fused F.scaled_dot_product_attention; with weights wanted, through matmul and softmax, so
the returned weights (averaged over heads by default) are differentiable too.
"""
import math

from .. import creation, dtypes
from ..ops import cat, matmul, softmax
from . import functional as F, init
from .input_checks import check_input_dtype
from .linear import Linear, _empty_parameter
from .module import Module


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's name for MultiheadAttention's out_proj (a Linear)."""


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive, got {embed_dim} "
                             f"and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first, self.add_zero_attn = batch_first, add_zero_attn
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _empty_parameter((3 * embed_dim, embed_dim), device, dtype)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = _empty_parameter((embed_dim, embed_dim), device, dtype)
            self.k_proj_weight = _empty_parameter((embed_dim, self.kdim), device, dtype)
            self.v_proj_weight = _empty_parameter((embed_dim, self.vdim), device, dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _empty_parameter((3 * embed_dim,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = _empty_parameter((1, 1, embed_dim), device, dtype)
            self.bias_v = _empty_parameter((1, 1, embed_dim), device, dtype)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ------------------------------------------------------------------ forward
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = query.ndim == 3
        self._check_shapes(query, key, value, batched)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal is a hint that attn_mask is the causal mask; "
                               "pass attn_mask too (Transformer.generate_square_subsequent_mask(L))")
        # PyTorch's reading of the hint: with no key_padding_mask and no weights asked for, attn_mask is
        # dropped and attention is top-left causal over all keys, the appended add_bias_kv / add_zero_attn ones too
        causal = is_causal and key_padding_mask is None and not need_weights
        if causal:
            attn_mask = None
        if not batched:  # (L, E): a batch of one
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:  # work in (L, N, E), PyTorch's own layout, so masks index alike
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        out, weights = self._attend(query, key, value, key_padding_mask, attn_mask, need_weights,
                                    average_attn_weights, causal)
        if not batched:
            out = out.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _check_shapes(self, query, key, value, batched):
        expected = 3 if batched else 2
        if query.ndim not in (2, 3) or key.ndim != expected or value.ndim != expected:
            raise RuntimeError(f"MultiheadAttention: query, key and value must be all 3-D (batched) or all 2-D "
                               f"(unbatched), got shapes {tuple(query.shape)}, {tuple(key.shape)} and "
                               f"{tuple(value.shape)}")
        for name, x, size in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if x.shape[-1] != size:
                raise RuntimeError(f"MultiheadAttention: {name} of shape {tuple(x.shape)} must have {size} "
                                   f"features (the last dimension)")
        if key.shape[:-1] != value.shape[:-1]:
            raise RuntimeError(f"MultiheadAttention: key and value must have the same length and batch, got "
                               f"shapes {tuple(key.shape)} and {tuple(value.shape)}")
        batch = 0 if self.batch_first else 1
        if batched and key.shape[batch] != query.shape[batch]:
            raise RuntimeError(f"MultiheadAttention: query and key must have the same batch size (dimension "
                               f"{batch}), got shapes {tuple(query.shape)} and {tuple(key.shape)}")
        weight = self.in_proj_weight if self._qkv_same_embed_dim else self.q_proj_weight
        for x in (query, key, value):
            check_input_dtype("MultiheadAttention", x, weight)

    def _projections(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self._qkv_same_embed_dim:
            return (F.linear(query, self.q_proj_weight, bq), F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        w = self.in_proj_weight
        if query is key and key is value:  # self-attention: one product for the three
            return F.linear(query, w, b).chunk(3, dim=-1)
        return F.linear(query, w[:E], bq), F.linear(key, w[E:2 * E], bk), F.linear(value, w[2 * E:], bv)

    def _attend(self, query, key, value, key_padding_mask, attn_mask, need_weights, average, causal=False):
        L, N, _ = query.shape
        H, D = self.num_heads, self.head_dim
        q, k, v = self._projections(query, key, value)
        if self.bias_k is not None:  # one more key and value, learned, that every query sees
            k = cat([k, self.bias_k.expand(1, N, self.embed_dim)])
            v = cat([v, self.bias_v.expand(1, N, self.embed_dim)])
            attn_mask, key_padding_mask = _pad_key_axis(attn_mask), _pad_key_axis(key_padding_mask)
        # (len, N, E) -> (N, H, len, D)
        q, k, v = (x.reshape(x.shape[0], N, H, D).permute(1, 2, 0, 3) for x in (q, k, v))
        if self.add_zero_attn:
            k = cat([k, creation.zeros(N, H, 1, D, dtype=k.dtype, device=k.device)], dim=2)
            v = cat([v, creation.zeros(N, H, 1, D, dtype=v.dtype, device=v.device)], dim=2)
            attn_mask, key_padding_mask = _pad_key_axis(attn_mask), _pad_key_axis(key_padding_mask)
        mask = _merged_mask(attn_mask, key_padding_mask, N, H, L, k.shape[2], q.dtype)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = matmul(q, k.transpose(-2, -1)) * (1 / math.sqrt(D))
            if mask is not None:
                scores = scores + mask if mask.dtype != dtypes.bool else scores.masked_fill(~mask, -math.inf)
            weights = softmax(scores, dim=-1)
            out = matmul(F.dropout(weights, p) if p > 0 else weights, v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
            weights = None
        out = self.out_proj(out.permute(2, 0, 1, 3).reshape(L, N, self.embed_dim))
        if weights is not None and average:
            weights = weights.mean(dim=1)
        return out, weights


def _pad_key_axis(mask):
    """A mask with one more key at the end (a column of "attend": False or 0)."""
    if mask is None:
        return None
    pad = creation.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return cat([mask, pad], dim=-1)


def _merged_mask(attn_mask, key_padding_mask, N, H, L, S, dtype):
    """One mask for scaled_dot_product_attention, (N or 1, H or 1, L or 1, S): bool "may attend"
    when both masks are bool, else additive floats (-inf where a bool mask said no)."""
    masks = []
    if attn_mask is not None:
        if attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (N * H, L, S):
                raise RuntimeError(f"MultiheadAttention: a 3-D attn_mask must have shape {(N * H, L, S)} "
                                   f"(batch * heads, target length, source length), got {tuple(attn_mask.shape)}")
            attn_mask = attn_mask.reshape(N, H, L, S)
        elif tuple(attn_mask.shape) != (L, S):
            raise RuntimeError(f"MultiheadAttention: a 2-D attn_mask must have shape {(L, S)} (target length, "
                               f"source length), got {tuple(attn_mask.shape)}")
        masks.append(attn_mask)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise RuntimeError(f"MultiheadAttention: key_padding_mask must have shape {(N, S)} (batch, source "
                               f"length), got {tuple(key_padding_mask.shape)}")
        masks.append(key_padding_mask.reshape(N, 1, 1, S))
    if not masks:
        return None
    if all(m.dtype == dtypes.bool for m in masks):
        keep = ~masks[0]
        for m in masks[1:]:
            keep = keep & ~m
        return keep
    total = None
    for m in masks:
        add = creation.zeros(*m.shape, dtype=dtype, device=m.device).masked_fill(m, -math.inf) \
            if m.dtype == dtypes.bool else m.to(dtype)
        total = add if total is None else total + add
    return total
