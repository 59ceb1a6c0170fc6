"""Tensor basics: conversion, properties, the Python protocol, copies and views."""
import pickle

import numpy as np
import pytest

import distgrad as dg


def test_properties_and_size():
    t = dg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple) and t.shape.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24 and len(t) == 2
    assert str(t.device) == "cpu" and not t.is_cuda and t.is_leaf
    assert t.element_size() == 4


def test_item_tolist_numpy():
    t = dg.tensor([[1.5, 2.0]])
    assert t.tolist() == [[1.5, 2.0]] and t[0, 1].item() == 2.0
    with pytest.raises(ValueError, match=r"only one element.*\(1, 2\)"):
        t.item()
    shared = t.numpy()
    shared[0, 0] = 9.0
    assert t[0, 0].item() == 9.0
    with pytest.raises(RuntimeError, match="detach"):
        dg.ones(2, requires_grad=True).numpy()
    assert float(dg.tensor(2.5)) == 2.5 and int(dg.tensor(3)) == 3


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(3)
    shared, copied = dg.from_numpy(a), dg.tensor(a)
    a[0] = 1.0
    assert shared.tolist()[0] == 1.0 and copied.tolist()[0] == 0.0


def test_bool_of_many_elements_is_ambiguous():
    assert bool(dg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(dg.tensor([1.0, 2.0]))


def test_iteration_and_unbinding():
    rows = list(dg.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]


def test_repr_shows_grad_state():
    assert "requires_grad=True" in repr(dg.ones(2, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(dg.ones(2, requires_grad=True) * 2)
    assert "dtype=float64" in repr(dg.ones(1, dtype=dg.float64))


def test_to_and_casts_are_differentiable():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(dg.float64) * 3
    assert y.dtype == dg.float64
    y.sum().backward()
    assert x.grad.dtype == dg.float32 and x.grad.tolist() == [3.0, 3.0]
    assert x.double().dtype == dg.float64 and x.half().dtype == dg.float16
    assert dg.tensor([1.7]).long().tolist() == [1]
    assert x.to("cpu") is x and x.to(dg.float32) is x


def test_detach_data_and_clone():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.array is x.array
    x.data.mul_(2.0)  # through .data: no autograd, same memory
    assert x.tolist() == [2.0, 4.0]
    c = x.clone()
    assert c.array is not x.array and c.requires_grad and not c.is_leaf
    (c * c).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    x.data = dg.tensor([0.5, 0.5])
    assert x.tolist() == [0.5, 0.5] and x.requires_grad


def test_requires_grad_flags():
    x = dg.ones(2)
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    assert y.detach_() is y and not y.requires_grad


def test_zero_and_new_factories():
    x = dg.ones(2, 2, dtype=dg.float64)
    assert x.new_zeros(3).dtype == dg.float64 and x.new_ones(2, 1).shape == (2, 1)
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0]
    assert x.new_tensor([1, 2]).dtype == dg.float64
    x.zero_()
    assert x.sum().item() == 0.0


def test_tensors_are_not_pickled():
    with pytest.raises(TypeError, match="distgrad.save"):
        pickle.dumps(dg.ones(2))


def test_methods_and_functions_agree():
    x = dg.tensor([[1.0, -2.0], [3.0, 0.5]])
    assert x.relu().tolist() == dg.relu(x).tolist() == [[1.0, 0.0], [3.0, 0.5]]
    assert x.sum(1).tolist() == dg.sum(x, 1).tolist() == [-1.0, 3.5]
    assert x.argmax().item() == 2 and x.max(dim=0).indices.tolist() == [1, 1]
    assert x.T.tolist() == [[1.0, 3.0], [-2.0, 0.5]]


def test_new_factories_take_pytorchs_keywords_and_default_to_this_tensors_dtype():
    torch = pytest.importorskip("torch")
    calls = [lambda x, lib: x.new_full((2,), fill_value=3.0),
             lambda x, lib: x.new_full((2,), 3.0, dtype=lib.float64, device="cpu", requires_grad=True),
             lambda x, lib: x.new_tensor([1, 2], dtype=lib.float32, device="cpu"),
             lambda x, lib: x.new_zeros((2, 2), dtype=lib.int64, device="cpu"),
             lambda x, lib: x.new_ones(3, requires_grad=True),
             lambda x, lib: x.new_empty((2,), dtype=lib.float64).fill_(7),
             lambda x, lib: x.new_zeros(size=(2,)),
             lambda x, lib: x.new_ones([]),
             lambda x, lib: x.new_full([2], 1),
             lambda x, lib: x.swapaxes(axis0=0, axis1=1)]
    for call in calls:
        expected, got = call(torch.ones(2, 3, dtype=torch.float64), torch), call(dg.ones(2, 3, dtype=dg.float64), dg)
        assert (tuple(got.shape), str(got.dtype), got.requires_grad) == \
            (tuple(expected.shape), str(expected.dtype).replace("torch.", ""), expected.requires_grad)
        np.testing.assert_array_equal(got.detach().numpy(), expected.detach().numpy())


def test_type_names_and_varargs_forms_as_pytorchs():
    torch = pytest.importorskip("torch")
    for lib_dtype in ("float32", "float64", "float16", "int64", "int32", "uint8", "bool"):
        expected = torch.ones(2, dtype=getattr(torch, lib_dtype)).type()
        assert dg.ones(2, dtype=getattr(dg, lib_dtype)).type() == expected  # 'torch.FloatTensor', ...
    x, t = dg.ones(2, 1, 1), torch.ones(2, 1, 1)
    for call in (lambda a: a.squeeze(1, 2), lambda a: a.tile(2), lambda a: a.tile(1, 2, 1), lambda a: a.tile((2, 1)),
                 lambda a: a.count_nonzero(0, 1), lambda a: a.type("torch.DoubleTensor")):
        got, expected = call(x), call(t)
        assert tuple(got.shape) == tuple(expected.shape)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
