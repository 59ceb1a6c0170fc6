"""The sequence layers on the GPU give the CPU's outputs, final states and gradients (inputs
and every parameter), float32 on both sides, from the same weights: RNN/LSTM/GRU (stacked,
bidirectional, batch_first, packed and unsorted input, the cells), scaled_dot_product_attention
(causal, bool and float masks, grouped heads), MultiheadAttention and the Transformer layers."""
import copy

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.nn.functional as F
from distgrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from gpu_support import GPU_ONLY, assert_matches_cpu, upstream_like

pytestmark = GPU_ONLY

T, B, E = 5, 3, 8
LENGTHS = [3, 5, 2]  # unsorted: the packing sorts and unsorts on the device


def leaves(arrays, device):
    """Tensors of ``arrays`` on ``device``; the floating ones want gradients."""
    return [dg.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in arrays]


def flat_tensors(value):
    """The tensors in a (nested) result: PackedSequence data, states, attention weights."""
    if isinstance(value, dg.Tensor):
        return [value]
    if hasattr(value, "data") and hasattr(value, "batch_sizes"):
        return [value.data]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in flat_tensors(v)]
    return []


def check_on_both(name, factory, arrays, call):
    """``call(module, *inputs)`` on the CPU and on a copy of the module on the GPU: every output,
    then the gradients of a random-weighted sum of them."""
    dg.manual_seed(0)
    cpu_module = factory()
    gpu_module = copy.deepcopy(cpu_module).to("cuda")
    cpu_in, gpu_in = leaves(arrays, "cpu"), leaves(arrays, "cuda")
    cpu_out, gpu_out = flat_tensors(call(cpu_module, *cpu_in)), flat_tensors(call(gpu_module, *gpu_in))
    assert len(cpu_out) == len(gpu_out)
    for i, (g, c) in enumerate(zip(gpu_out, cpu_out)):
        assert_matches_cpu(g, c, f"{name} output {i}")
    wanted = [(g, c) for g, c in zip(gpu_out, cpu_out) if c.requires_grad]
    seeds = upstream_like([c for _, c in wanted], 1)
    dg.autograd.backward([c for _, c in wanted], [dg.tensor(s) for s in seeds])
    dg.autograd.backward([g for g, _ in wanted], [dg.tensor(s, device="cuda") for s in seeds])
    for i, (g, c) in enumerate(zip(gpu_in, cpu_in)):
        if c.grad is not None:
            assert_matches_cpu(g.grad, c.grad, f"{name} gradient of input {i}")
    gpu_params = dict(gpu_module.named_parameters())
    for key, p in cpu_module.named_parameters():
        if p.grad is not None:
            assert_matches_cpu(gpu_params[key].grad, p.grad, f"{name} gradient of {key}")


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def packed_call(batch_first):
    def call(rnn, x, *state):
        packed = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        out, final = rnn(packed, *(tuple(state) if len(state) > 1 else state))
        padded, lengths = pad_packed_sequence(out, batch_first=batch_first)
        assert lengths.tolist() == LENGTHS
        return padded, final
    return call


RNNS = [
    ("RNN_tanh_2_layers", lambda: nn.RNN(E, 6, num_layers=2), (T, B, E), packed_call(False)),
    ("RNN_relu_bidirectional", lambda: nn.RNN(E, 6, nonlinearity="relu", bidirectional=True), (T, B, E),
     packed_call(False)),
    ("LSTM_2_layers_bidirectional", lambda: nn.LSTM(E, 6, num_layers=2, bidirectional=True), (T, B, E),
     packed_call(False)),
    ("LSTM_batch_first_proj", lambda: nn.LSTM(E, 6, batch_first=True, proj_size=4), (B, T, E),
     packed_call(True)),
    ("GRU_2_layers", lambda: nn.GRU(E, 6, num_layers=2), (T, B, E), packed_call(False)),
    ("GRU_batch_first_bidirectional", lambda: nn.GRU(E, 6, batch_first=True, bidirectional=True), (B, T, E),
     packed_call(True)),
    ("LSTM_padded_with_state", lambda: nn.LSTM(E, 6), (T, B, E), None),
    ("GRU_unbatched", lambda: nn.GRU(E, 6), (T, E), None),
]


@pytest.mark.parametrize("name,factory,shape,call", RNNS, ids=[r[0] for r in RNNS])
def test_recurrent_layer_on_gpu_matches_cpu(name, factory, shape, call):
    arrays = [normal(*shape)]
    if name == "LSTM_padded_with_state":
        arrays += [normal(1, B, 6, seed=1), normal(1, B, 6, seed=2)]
        call = lambda rnn, x, h, c: rnn(x, (h, c))  # noqa: E731
    check_on_both(name, factory, arrays, call or (lambda rnn, x: rnn(x)))


CELLS = [("RNNCell", nn.RNNCell), ("LSTMCell", nn.LSTMCell), ("GRUCell", nn.GRUCell)]


@pytest.mark.parametrize("name,cls", CELLS, ids=[c[0] for c in CELLS])
def test_cell_steps_on_gpu_match_cpu(name, cls):
    def unroll(cell, x):
        state = None
        outputs = []
        for t in range(x.shape[0]):
            state = cell(x[t], state)
            outputs.append(state)
        return outputs
    check_on_both(name, lambda: cls(E, 6), [normal(T, B, E)], unroll)


CAUSAL = np.triu(np.ones((T, T), bool), 1)
ATTENTION = [
    ("sdpa_causal", dict(is_causal=True)),
    ("sdpa_bool_mask", dict(attn_mask=~CAUSAL.T)),
    ("sdpa_float_mask_scale", dict(attn_mask=normal(1, 1, T, T, seed=3), scale=0.3)),
    ("sdpa_grouped_heads", dict(enable_gqa=True)),
]


@pytest.mark.parametrize("name,kwargs", ATTENTION, ids=[a[0] for a in ATTENTION])
def test_scaled_dot_product_attention_on_gpu_matches_cpu(name, kwargs):
    heads_kv = 2 if kwargs.get("enable_gqa") else 4
    arrays = [normal(B, 4, T, E, seed=4), normal(B, heads_kv, T, E, seed=5), normal(B, heads_kv, T, E, seed=6)]
    mask = kwargs.pop("attn_mask", None)

    def call(_, q, k, v):
        attn_mask = None if mask is None else dg.tensor(mask, device=q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **kwargs)
    check_on_both(name, nn.Identity, arrays, call)


def key_padding(device):
    mask = np.zeros((B, T), bool)
    mask[0, 3:] = mask[2, 4:] = True  # padded keys of two sequences
    return dg.tensor(mask, device=device)


def attend(need_weights):
    def call(mha, q, k, v):
        out, weights = mha(q, k, v, key_padding_mask=key_padding(q.device), need_weights=need_weights,
                           attn_mask=nn.Transformer.generate_square_subsequent_mask(T, device=q.device))
        return (out, weights) if need_weights else out
    return call


def encode(mask_name):
    def call(encoder, x):
        causal = nn.Transformer.generate_square_subsequent_mask(T, device=x.device)
        return encoder(x, src_key_padding_mask=key_padding(x.device), **{mask_name: causal})
    return call


TRANSFORMERS = [
    ("MultiheadAttention_weights", lambda: nn.MultiheadAttention(E, 2, batch_first=True), 3, attend(True)),
    ("MultiheadAttention_no_weights_kdim", lambda: nn.MultiheadAttention(E, 4, batch_first=True, kdim=5, vdim=6,
                                                                    add_bias_kv=True), 3, attend(False)),
    ("TransformerEncoderLayer_norm_first_gelu", lambda: nn.TransformerEncoderLayer(
        E, 2, 16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True), 1, encode("src_mask")),
    ("TransformerEncoder_2_layers", lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(
        E, 2, 16, dropout=0.0, batch_first=True), 2, norm=nn.LayerNorm(E)), 1, encode("mask")),
    ("TransformerDecoderLayer", lambda: nn.TransformerDecoderLayer(E, 2, 16, dropout=0.0, batch_first=True), 2,
     lambda layer, tgt, memory: layer(tgt, memory, tgt_is_causal=True, tgt_mask=(
         nn.Transformer.generate_square_subsequent_mask(T, device=tgt.device)),
         memory_key_padding_mask=key_padding(tgt.device))),
    ("Transformer", lambda: nn.Transformer(E, 2, 1, 1, 16, dropout=0.0, batch_first=True), 2,
     lambda model, src, tgt: model(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(
         T, device=src.device))),
]


@pytest.mark.parametrize("name,factory,count,call", TRANSFORMERS, ids=[t[0] for t in TRANSFORMERS])
def test_attention_layer_on_gpu_matches_cpu(name, factory, count, call):
    widths = (E, 5, 6) if "kdim" in name else (E, E, E)
    arrays = [normal(B, T, widths[i], seed=7 + i) for i in range(count)]
    check_on_both(name, factory, arrays, call)
