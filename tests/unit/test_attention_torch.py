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


def sdpa_both(shapes, mask=None, **kwargs):
    """Run SDPA in both libraries on random q, k, v of ``shapes``; compare values and grads."""
    arrays = [RNG.standard_normal(s) for s in shapes]
    pairs = [both(a) for a in arrays]
    masks = (None, None)
    if mask is not None:
        masks = both(mask, requires_grad=mask.dtype.kind == "f")
    t_out = torch.nn.functional.scaled_dot_product_attention(*[p[0] for p in pairs], attn_mask=masks[0], **kwargs)
    d_out = F.scaled_dot_product_attention(*[p[1] for p in pairs], attn_mask=masks[1], **kwargs)
    close(d_out, t_out, "output")
    upstream = RNG.standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(upstream))
    d_out.backward(dg.tensor(upstream))
    for name, (t, d) in zip("qkv", pairs):
        close(d.grad, t.grad, f"grad of {name}")
    if mask is not None and mask.dtype.kind == "f":
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
    (lambda: F.scaled_dot_product_attention(dg.zeros((1, 6, 3, 4)), dg.zeros((1, 4, 5, 4)),
                                            dg.zeros((1, 4, 5, 4)), enable_gqa=True), "multiple"),
])
def test_sdpa_shape_errors_name_the_op(call, match):
    with pytest.raises(RuntimeError, match=match) as info:
        call()
    assert "scaled_dot_product_attention" in str(info.value)
