"""einsum against torch.einsum in float64: values and the gradient of every operand over a table
of equations (products, traces, diagonals, ellipses, implicit outputs, broadcasting), the call
forms, integer operands, dtype promotion and the errors for malformed equations."""
import numpy as np
import pytest

import distgrad as dg

torch = pytest.importorskip("torch")

# (equation, operand shapes); "same" in place of a shape repeats operand 0 itself
CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),                        # matmul
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),               # batched matmul
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),         # bilinear
    ("i,j->ij", [(3,), (4,)]),                              # outer
    ("ii->", [(3, 3)]),                                     # trace
    ("ii", [(3, 3)]),                                       # implicit trace
    ("ii->i", [(3, 3)]),                                    # diagonal
    ("...ii->...i", [(2, 3, 3)]),                           # batched diagonal
    ("iji->j", [(3, 2, 3)]),                                # diagonal of non-adjacent dims
    ("ii,i->i", [(3, 3), (3,)]),                            # diagonal times a vector
    ("ii,i->i", [(1, 1), (3,)]),                            # a broadcast diagonal
    ("iij,jk->k", [(3, 3, 2), (2, 5)]),
    ("ij->ji", [(2, 3)]),                                   # transpose
    ("ba", [(2, 3)]),                                       # implicit output in alphabetical order
    ("Ab,bA->A", [(2, 3), (3, 2)]),                         # upper case before lower case
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),      # ellipsis, broadcast
    ("...i,...i", [(2, 1, 3), (4, 3)]),                     # implicit output with an ellipsis
    ("...", [(2, 3)]),
    ("...i->i", [(2, 3, 4)]),                               # explicit output without the ellipsis
    ("ij,jk", [(2, 3), (3, 4)]),                            # implicit matmul
    ("ij->", [(2, 3)]),                                     # sum of all
    ("ij->i", [(2, 3)]),                                    # sum over one index
    ("ij->...", [(2, 3)]),                                  # an empty ellipsis in the output
    ("ij,kl->", [(2, 3), (4, 5)]),                          # independent sums
    ("i,i->", [(4,), "same"]),                              # repeated operand
    ("i,i->i", [(1,), (3,)]),                               # size-1 subscript broadcast
    ("bij,bj->bi", [(1, 3, 4), (2, 4)]),
    ("i,->i", [(3,), ()]),                                  # a 0-d operand
    ("i,ij,jk,k->", [(3,), (3, 4), (4, 2), (2,)]),          # a chain of four
    ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),                        # empty contraction
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),               # spaces
]

RNG = np.random.default_rng(11)


def _arrays(shapes):
    arrays = []
    for s in shapes:
        arrays.append(arrays[0] if s == "same" else RNG.standard_normal(s))
    return arrays


def _run(lib, equation, arrays, shapes):
    leaves = []
    for a, s in zip(arrays, shapes):
        leaves.append(leaves[0] if s == "same" else lib.tensor(a, requires_grad=True))
    out = lib.einsum(equation, *leaves)
    weights = lib.tensor(np.linspace(-1.0, 2.0, max(out.numel(), 1))[:out.numel()].reshape(tuple(out.shape)))
    (out * weights).sum().backward()
    grads = [t.grad.numpy() for t, s in zip(leaves, shapes) if s != "same"]
    return out.detach().numpy(), grads


@pytest.mark.parametrize("equation,shapes", CASES, ids=[c[0].replace(" ", "_") or "none" for c in CASES])
def test_values_and_gradients_match_torch(equation, shapes):
    arrays = _arrays(shapes)
    dg_out, dg_grads = _run(dg, equation, arrays, shapes)
    torch_out, torch_grads = _run(torch, equation, arrays, shapes)
    assert dg_out.shape == torch_out.shape
    np.testing.assert_allclose(dg_out, torch_out, rtol=1e-10, atol=1e-12)
    assert len(dg_grads) == len(torch_grads)
    for k, (g, expected) in enumerate(zip(dg_grads, torch_grads)):
        assert g.shape == expected.shape, f"operand {k}"
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12, err_msg=f"operand {k}")


def test_list_and_sublist_forms():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    expected = a @ b
    np.testing.assert_allclose(dg.einsum("ij,jk->ik", [dg.tensor(a), dg.tensor(b)]).numpy(), expected)
    np.testing.assert_allclose(dg.einsum(dg.tensor(a), [0, 1], dg.tensor(b), [1, 2], [0, 2]).numpy(), expected)
    sub = dg.einsum(dg.tensor(a), [Ellipsis, 1], dg.tensor(b), [1, 2])  # implicit: the ellipsis, then 2
    np.testing.assert_allclose(sub.numpy(), torch.einsum(torch.tensor(a), [Ellipsis, 1], torch.tensor(b), [1, 2]))


def test_only_operands_that_require_grad_get_one():
    a = dg.tensor(RNG.standard_normal((2, 3)), requires_grad=True)
    b = dg.tensor(RNG.standard_normal((3, 4)))
    dg.einsum("ij,jk->ik", a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.ones((2, 4)) @ b.numpy().T)
    assert b.grad is None


def test_integer_operands_give_an_integer_result():
    a = np.arange(6).reshape(2, 3)
    b = np.arange(12).reshape(3, 4) - 5
    out = dg.einsum("ij,jk->ik", dg.tensor(a), dg.tensor(b))
    expected = torch.einsum("ij,jk->ik", torch.tensor(a), torch.tensor(b))
    assert out.dtype == dg.int64 and expected.dtype == torch.int64
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    trace = dg.einsum("ii", dg.tensor(np.arange(9, dtype=np.int32).reshape(3, 3)))
    assert trace.dtype == dg.int32 and trace.item() == 12


def test_mixed_dtypes_promote_as_binary_ops():
    ints, floats = np.arange(3), RNG.standard_normal(3)
    f32 = dg.einsum("i,i->i", dg.tensor(ints), dg.tensor(floats.astype(np.float32)))
    assert f32.dtype == dg.float32
    f64 = dg.tensor(floats, requires_grad=True)
    out = dg.einsum("i,i->", dg.tensor(ints.astype(np.int32)), f64)
    assert out.dtype == dg.float64
    out.backward()
    np.testing.assert_array_equal(f64.grad.numpy(), ints.astype(np.float64))
    mixed_floats = dg.einsum("i,i->i", dg.tensor(floats.astype(np.float32)), dg.tensor(floats))
    assert mixed_floats.dtype == dg.float64


ERRORS = [
    ("ij,jk", [(2, 3)], "fewer operands"),
    ("ij", [(2, 3), (3, 4)], "more operands"),
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript j has size 4 for operand 1"),
    ("i1", [(2, 3)], "subscripts must be in"),
    ("ij->k", [(2, 3)], "output subscript k does not appear"),
    ("ij->ii", [(2, 3)], "output subscript i appears more than once"),
    ("ii", [(2, 3)], "sizes don't match, 3 != 2"),
    ("ijk", [(2, 3)], "does not match the number of dimensions"),
    ("i.j", [(2, 3)], "not part of any ellipsis"),
    ("ijk...", [(2, 3)], "fewer than its 3 subscripts"),
    ("...i...", [(2, 3)], "more than one ellipsis"),
    ("ij->i?", [(2, 3)], "subscripts must be in"),
]


@pytest.mark.parametrize("equation,shapes,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_malformed_equations_raise_naming_op_equation_and_shapes(equation, shapes, message):
    with pytest.raises(RuntimeError):
        torch.einsum(equation, *[torch.zeros(s) for s in shapes])
    with pytest.raises(RuntimeError, match="^einsum: ") as raised:
        dg.einsum(equation, *[dg.zeros(s) for s in shapes])
    text = str(raised.value)
    assert message in text
    assert repr(equation) in text
    assert str(tuple(shapes[0])) in text


def test_non_tensor_operands_and_equations_raise_type_errors():
    with pytest.raises(TypeError, match="einsum"):
        dg.einsum("ij,jk", dg.zeros(2, 3), np.zeros((3, 4)))
    with pytest.raises(TypeError, match="einsum"):
        dg.einsum(3, dg.zeros(2))
    with pytest.raises(RuntimeError, match="einsum"):
        dg.einsum("ij")
