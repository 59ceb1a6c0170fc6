"""Attention against PyTorch in float64: F.scaled_dot_product_attention (masks, causal, scale,
grouped-query heads, dropout), nn.MultiheadAttention and the Transformer layers with copied
weights (outputs, input and parameter gradients, state_dict names)."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.nn.functional as F

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)


def both(array, requires_grad=True):
    return (torch.tensor(array, requires_grad=requires_grad), dg.tensor(array, requires_grad=requires_grad))


def close(dg_value, torch_value, what=""):
    np.testing.assert_allclose(dg_value.detach().numpy() if hasattr(dg_value, "detach") else dg_value,
                               torch_value.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg=what)


def sdpa_both(shapes, mask=None, mask_grad=True, **kwargs):
    """Run SDPA in both libraries on random q, k, v of ``shapes``; compare values and grads."""
    arrays = [RNG.standard_normal(s) for s in shapes]
    pairs = [both(a) for a in arrays]
    masks = (None, None)
    if mask is not None:
        masks = both(mask, requires_grad=mask_grad and mask.dtype.kind == "f")
    t_out = torch.nn.functional.scaled_dot_product_attention(*[p[0] for p in pairs], attn_mask=masks[0], **kwargs)
    d_out = F.scaled_dot_product_attention(*[p[1] for p in pairs], attn_mask=masks[1], **kwargs)
    close(d_out, t_out, "output")
    upstream = RNG.standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(upstream))
    d_out.backward(dg.tensor(upstream))
    for name, (t, d) in zip("qkv", pairs):
        close(d.grad, t.grad, f"grad of {name}")
    if mask is not None and mask_grad and mask.dtype.kind == "f":
        close(masks[1].grad, masks[0].grad, "grad of the float mask")


@pytest.mark.parametrize("shapes", [[(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)],
                                    [(5, 4), (6, 4), (6, 3)],
                                    [(2, 3, 5, 4), (1, 3, 6, 4), (2, 1, 6, 4)]])  # batch axes broadcast
def test_sdpa_values_and_grads(shapes):
    sdpa_both(shapes)
    sdpa_both(shapes, scale=0.3)


def test_sdpa_causal_and_masks():
    shapes = [(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)]
    sdpa_both(shapes, is_causal=True)
    keep = RNG.random((2, 1, 5, 5)) > 0.4
    keep[..., 0] = True
    sdpa_both(shapes, mask=keep)                                  # bool, broadcast over heads
    sdpa_both(shapes, mask=RNG.standard_normal((5, 5)))           # float, added, gets a gradient
    sdpa_both(shapes, mask=keep[0, 0], is_causal=True)            # both: combined as in PyTorch
    sdpa_both(shapes, mask=RNG.standard_normal((5, 5)), mask_grad=False, is_causal=True, scale=0.7)
    empty = keep.copy()
    empty[0, 0, 2] = False                                        # a query that sees no key: zeros
    sdpa_both(shapes, mask=empty)
    minus_inf = np.where(keep, 0.0, -np.inf)
    sdpa_both(shapes, mask=minus_inf[:, :, :, :])


def test_sdpa_grouped_query_heads():
    sdpa_both([(2, 6, 5, 4), (2, 2, 7, 4), (2, 2, 7, 3)], enable_gqa=True, is_causal=False)


def test_sdpa_dropout_statistics():
    dg.manual_seed(0)
    q, k = dg.zeros((4, 8, 16, 8)), dg.zeros((4, 8, 200, 8))  # equal scores: every weight is 1/200
    v = dg.ones((4, 8, 200, 8))
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()[..., 0]
    # each output is (kept weights) / 200 / 0.75: mean 1, spread of a binomial fraction / 0.75
    assert abs(out.mean() - 1.0) < 0.01
    assert abs(out.std() / (np.sqrt(0.25 * 0.75 / 200) / 0.75) - 1) < 0.15
    assert np.allclose(F.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy(), 1.0)


@pytest.mark.parametrize("call, match", [
    (lambda: F.scaled_dot_product_attention(dg.zeros(4), dg.zeros(4), dg.zeros(4)), "at least 2 dimensions"),
    (lambda: F.scaled_dot_product_attention(dg.zeros((3, 4)), dg.zeros((5, 3)), dg.zeros((5, 4))), "feature size"),
    (lambda: F.scaled_dot_product_attention(dg.zeros((3, 4)), dg.zeros((5, 4)), dg.zeros((6, 4))), "same length"),
    (lambda: F.scaled_dot_product_attention(dg.zeros((3, 4)), dg.zeros((5, 4)).double(), dg.zeros((5, 4))),
     "one dtype"),
    (lambda: F.scaled_dot_product_attention(dg.zeros((3, 4)), dg.zeros((5, 4)), dg.zeros((5, 4)),
                                            attn_mask=dg.zeros((4, 5))), "broadcast"),
    (lambda: F.scaled_dot_product_attention(dg.zeros((3, 4)), dg.zeros((5, 4)), dg.zeros((5, 4)),
                                            attn_mask=dg.zeros((3, 5), dtype=dg.int64)), "bool or floating"),
    (lambda: F.scaled_dot_product_attention(dg.zeros((3, 4)), dg.zeros((5, 4)), dg.zeros((5, 4)),
                                            attn_mask=dg.zeros((1, 3, 5)), is_causal=True), "is_causal"),
    (lambda: F.scaled_dot_product_attention(dg.zeros((1, 6, 3, 4)), dg.zeros((1, 4, 5, 4)),
                                            dg.zeros((1, 4, 5, 4)), enable_gqa=True), "multiple"),
])
def test_sdpa_shape_errors_name_the_op(call, match):
    with pytest.raises(RuntimeError, match=match) as info:
        call()
    assert "scaled_dot_product_attention" in str(info.value)


# ---------------------------------------------------------------------- layers
def copy_weights(torch_module, dg_module):
    """Load torch's state_dict into the distgrad module (float64, eval mode, same names)."""
    torch_module.double().eval()
    dg_module.double().eval()
    torch_state = torch_module.state_dict()
    assert list(dg_module.state_dict()) == list(torch_state)
    dg_module.load_state_dict({k: v.numpy().copy() for k, v in torch_state.items()})


def run_layers(torch_module, dg_module, inputs, first_output=True, **masks):
    """Forward both modules on the same inputs (and masks, given as arrays); compare outputs,
    input gradients and parameter gradients."""
    copy_weights(torch_module, dg_module)
    torch_module.zero_grad()  # layers deep-copied into a stack bring their gradients along
    dg_module.zero_grad()
    pairs = [both(a) for a in inputs]
    t_masks = {k: torch.tensor(v) for k, v in masks.items()}
    d_masks = {k: dg.tensor(v) for k, v in masks.items()}
    t_out = torch_module(*[p[0] for p in pairs], **t_masks)
    d_out = dg_module(*[p[1] for p in pairs], **d_masks)
    if first_output:
        close(d_out[1], t_out[1], "attention weights") if t_out[1] is not None else None
        assert (d_out[1] is None) == (t_out[1] is None)
        t_out, d_out = t_out[0], d_out[0]
    close(d_out, t_out, "output")
    upstream = RNG.standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(upstream))
    d_out.backward(dg.tensor(upstream))
    for i, (t, d) in enumerate(pairs):
        close(d.grad, t.grad, f"grad of input {i}")
    dg_params = dict(dg_module.named_parameters())
    for name, p in torch_module.named_parameters():
        close(dg_params[name].grad, p.grad, f"grad of {name}")


@pytest.mark.parametrize("kwargs", [dict(), dict(batch_first=True), dict(bias=False), dict(add_bias_kv=True),
                                    dict(add_zero_attn=True)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_self_attention(kwargs, need_weights):
    t, d = torch.nn.MultiheadAttention(8, 2, **kwargs), nn.MultiheadAttention(8, 2, **kwargs)
    x = RNG.standard_normal((3, 5, 8))
    run_layers(t, d, [x, x, x], need_weights=need_weights)


def test_multihead_cross_attention_with_other_key_sizes_and_masks():
    t = torch.nn.MultiheadAttention(8, 4, kdim=5, vdim=6, batch_first=True)
    d = nn.MultiheadAttention(8, 4, kdim=5, vdim=6, batch_first=True)
    assert [n for n, _ in d.named_parameters()][:3] == ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    q, k, v = RNG.standard_normal((2, 3, 8)), RNG.standard_normal((2, 7, 5)), RNG.standard_normal((2, 7, 6))
    padding = np.zeros((2, 7), dtype=bool)
    padding[1, 5:] = True                                           # True: a padded key, not attended
    causal_ish = np.triu(np.ones((3, 7), dtype=bool), k=3)
    for need_weights in (True, False):
        run_layers(t, d, [q, k, v], key_padding_mask=padding, attn_mask=causal_ish, need_weights=need_weights)
        run_layers(t, d, [q, k, v], key_padding_mask=padding, need_weights=need_weights,
                   attn_mask=RNG.standard_normal((8, 3, 7)), average_attn_weights=False)


def test_multihead_unbatched_and_errors():
    t, d = torch.nn.MultiheadAttention(8, 2), nn.MultiheadAttention(8, 2)
    x = RNG.standard_normal((4, 8))
    run_layers(t, d, [x, x, x], key_padding_mask=np.array([False, False, True, False]))
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(RuntimeError, match="must have 8 features"):
        d(dg.zeros((4, 2, 6)), dg.zeros((4, 2, 6)), dg.zeros((4, 2, 6)))
    x3 = dg.zeros((4, 2, 8), dtype=dg.float64)
    with pytest.raises(RuntimeError, match=r"attn_mask must have shape \(4, 4\)"):
        d(x3, x3, x3, attn_mask=dg.zeros((3, 4)))
    with pytest.raises(RuntimeError, match="is_causal"):
        d(x3, x3, x3, is_causal=True)


def test_multihead_attention_init_matches_torch_distributions():
    dg.manual_seed(0)
    d = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    bound = np.sqrt(6 / (64 + 192))                                  # xavier_uniform_ on (3E, E)
    w = d.in_proj_weight.detach().numpy()
    assert abs(w).max() <= bound and abs(w).max() > 0.95 * bound
    assert not d.in_proj_bias.detach().numpy().any() and not d.out_proj.bias.detach().numpy().any()
    assert d.bias_k.detach().numpy().std() > 0


@pytest.mark.parametrize("kwargs", [dict(), dict(norm_first=True, activation="gelu", batch_first=True),
                                    dict(bias=False, activation=torch.nn.functional.gelu)])
def test_transformer_encoder_layer_and_stack(kwargs):
    dg_kwargs = {k: (dg.nn.functional.gelu if callable(v) else v) for k, v in kwargs.items()}
    t_layer = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, **kwargs)
    d_layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, **dg_kwargs)
    x = RNG.standard_normal((3, 5, 8))
    seq, batch = (5, 3) if kwargs.get("batch_first") else (3, 5)
    causal = np.triu(np.full((seq, seq), -np.inf), 1)
    padding = np.zeros((batch, seq), dtype=bool)
    padding[0, -1] = True
    run_layers(t_layer, d_layer, [x], first_output=False, src_mask=causal, src_key_padding_mask=padding)
    t_stack = torch.nn.TransformerEncoder(t_layer, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    d_stack = nn.TransformerEncoder(d_layer, 2, norm=nn.LayerNorm(8))
    run_layers(t_stack, d_stack, [x], first_output=False, mask=causal)


@pytest.mark.parametrize("kwargs", [dict(), dict(norm_first=True, batch_first=True)])
def test_transformer_decoder_layer_and_stack(kwargs):
    t_layer = torch.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, **kwargs)
    d_layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, **kwargs)
    tgt, memory = RNG.standard_normal((4, 4, 8)), RNG.standard_normal((6, 4, 8))
    if kwargs.get("batch_first"):
        memory = RNG.standard_normal((4, 6, 8))
    causal = np.triu(np.ones((4, 4), dtype=bool), 1)
    run_layers(t_layer, d_layer, [tgt, memory], first_output=False, tgt_mask=causal)
    t_stack, d_stack = torch.nn.TransformerDecoder(t_layer, 2), nn.TransformerDecoder(d_layer, 2)
    run_layers(t_stack, d_stack, [tgt, memory], first_output=False, tgt_mask=causal)


def test_transformer_whole_with_final_norms_and_causal_mask():
    t = torch.nn.Transformer(8, 2, 2, 1, 16, batch_first=True)
    d = nn.Transformer(8, 2, 2, 1, 16, batch_first=True)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    src, tgt = RNG.standard_normal((2, 5, 8)), RNG.standard_normal((2, 4, 8))
    run_layers(t, d, [src, tgt], first_output=False, tgt_mask=mask.numpy().astype(np.float64))
    with pytest.raises(RuntimeError, match="batch number"):
        d(dg.zeros((2, 5, 8)).double(), dg.zeros((3, 4, 8)).double())
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_multihead_attention_takes_autocast_half_inputs():
    mha = dg.nn.MultiheadAttention(8, 2)
    x = dg.ones(5, 3, 8, dtype=dg.float16)  # what a layer before it gives under autocast
    with dg.autocast("cpu", dtype=dg.float16):
        out, _ = mha(x, x, x)
    assert out.dtype == dg.float16 and tuple(out.shape) == (5, 3, 8)
