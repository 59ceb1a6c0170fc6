"""Default dtypes and type promotion, as PyTorch's."""
import itertools

import numpy as np
import pytest

import distgrad as dg

DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]


def test_default_dtypes():
    assert dg.tensor([1.0]).dtype == dg.float32
    assert dg.tensor([1]).dtype == dg.int64
    assert dg.tensor([True]).dtype == dg.bool
    assert dg.tensor(np.array([1.0])).dtype == dg.float64  # NumPy arrays keep their dtype
    assert dg.zeros(2).dtype == dg.float32 and dg.randn(2).dtype == dg.float32
    assert dg.arange(3).dtype == dg.int64 and dg.arange(0.0, 1.0, 0.5).dtype == dg.float32
    assert dg.full((2,), 3).dtype == dg.int64 and dg.full((2,), 3.0).dtype == dg.float32


def test_set_default_dtype():
    try:
        dg.set_default_dtype(dg.float64)
        assert dg.tensor([1.0]).dtype == dg.float64 and dg.ones(1).dtype == dg.float64
    finally:
        dg.set_default_dtype(dg.float32)
    with pytest.raises(TypeError, match="floating"):
        dg.set_default_dtype(dg.int64)


@pytest.mark.parametrize("a, b, want", [
    ("float32", 2.0, "float32"),
    ("int64", 2.5, "float32"),
    ("int64", 2, "int64"),
    ("int32", 2, "int32"),
    ("float16", 2.0, "float16"),
    ("bool", 1, "int64"),
])
def test_tensor_and_python_scalar(a, b, want):
    t = dg.ones(3, dtype=a)
    assert (t * b).dtype == np.dtype(want)
    assert (b + t).dtype == np.dtype(want)


@pytest.mark.parametrize("a, b, want", [
    ("int64", "float16", "float16"),
    ("float32", "float64", "float64"),
    ("int32", "int64", "int64"),
    ("uint8", "int32", "int32"),
    ("bool", "float32", "float32"),
])
def test_tensor_and_tensor(a, b, want):
    assert (dg.ones(2, dtype=a) + dg.ones(2, dtype=b)).dtype == np.dtype(want)


@pytest.mark.parametrize("a, b", list(itertools.combinations_with_replacement(DTYPES, 2)))
def test_promotion_matches_torch(a, b):
    torch = pytest.importorskip("torch")
    want = torch.result_type(torch.ones(2, dtype=getattr(torch, a)), torch.ones(2, dtype=getattr(torch, b)))
    got = (dg.ones(2, dtype=a) * dg.ones(2, dtype=b)).dtype
    assert str(got) == str(want).replace("torch.", "")


def test_integer_division_gives_float():
    assert (dg.tensor([3]) / dg.tensor([2])).tolist() == [1.5]
    assert (dg.tensor([3]) / 2).dtype == dg.float32
    assert (dg.tensor([7]) // 2).tolist() == [3]


def test_gradient_keeps_the_leaf_dtype_across_promotion():
    x = dg.ones(2, requires_grad=True)  # float32
    y = x * dg.ones(2, dtype=dg.float64)
    assert y.dtype == dg.float64
    y.sum().backward()
    assert x.grad.dtype == dg.float32


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients.*int64"):
        dg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="int64"):
        dg.tensor([1, 2]).requires_grad_()


def test_comparisons_give_bool():
    a = dg.tensor([1.0, 2.0])
    assert (a > 1.5).dtype == dg.bool and (a > 1.5).tolist() == [False, True]
    assert (a == dg.tensor([1.0, 0.0])).tolist() == [True, False]


def test_bfloat16_can_be_named_chosen_against_and_refused_when_a_tensor_would_hold_it():
    # A mixed-precision program's opening lines, the same under PyTorch and distgrad: on a
    # machine without bfloat16 it picks float16.
    torch = pytest.importorskip("torch")
    for lib in (torch, dg):
        table = {"float32": lib.float32, "bfloat16": lib.bfloat16, "float16": lib.float16}
        chosen = table["bfloat16" if lib.cuda.is_bf16_supported() else "float16"]
        assert chosen == lib.float16 and lib.bfloat16.is_floating_point and lib.bfloat16.itemsize == 2
        assert lib.ones(2).dtype != lib.bfloat16 and lib.float32 != lib.bfloat16
    assert repr(dg.bfloat16) == "distgrad.bfloat16"
    for make in (lambda: dg.zeros(3, dtype=dg.bfloat16), lambda: dg.ones(2).to(dg.bfloat16),
                 lambda: dg.tensor([1.0], dtype=dg.bfloat16), lambda: dg.nn.Linear(2, 2).to(dg.bfloat16)):
        with pytest.raises(TypeError, match="bfloat16: distgrad's tensors .* have no bfloat16; use float16"):
            make()
    with pytest.raises(RuntimeError, match="bfloat16"):
        with dg.autocast("cpu"):  # PyTorch's CPU default is bfloat16
            pass


def test_integer_median_prod_and_uint8_all_any_keep_pytorchs_dtypes():
    torch = pytest.importorskip("torch")
    for dtype in ("int8", "int16", "int32", "int64", "uint8", "bool"):
        values = np.array([1, 0, 3, 2, 5]).astype(dtype)
        for op in ("median", "prod", "all", "any", "sum"):
            if dtype == "bool" and op == "median":
                continue  # PyTorch has no bool median; distgrad gives the element
            expected = getattr(torch.tensor(values), op)()
            got = getattr(dg.tensor(values), op)()
            assert str(got.dtype) == str(expected.dtype).replace("torch.", ""), (dtype, op)
            assert got.item() == expected.item(), (dtype, op)
