"""Indexing (slices, integer arrays with repeats, boolean masks), gather: gradients and values."""
import numpy as np
import pytest

import distgrad as dg
from test_ops_common import Case, Const, op_tests

IDX = Const(lambda rng: np.array([2, 0, 2, 2, 1]))
MASK = Const(lambda rng: np.array([[True, False, True], [False, False, True], [True, True, False]]))
ROWS = Const(lambda rng: np.array([True, False, True]))

CASES = [
    Case("slice", lambda m, a: a[1:3], [(4, 2)], ref=lambda a: a[1:3]),
    Case("slice_step", lambda m, a: a[:, ::2], [(2, 5)], ref=lambda a: a[:, ::2]),
    Case("int_and_ellipsis", lambda m, a: a[..., 1], [(2, 3, 4)], ref=lambda a: a[..., 1]),
    Case("none_and_negative", lambda m, a: a[None, -1], [(3, 2)], ref=lambda a: a[None, -1]),
    Case("int_array_repeats", lambda m, a, i: a[i], [(3, 2), IDX], ref=lambda a, i: a[i]),
    Case("int_list_repeats", lambda m, a: a[:, [1, 1, 0]], [(2, 3)], ref=lambda a: a[:, [1, 1, 0]]),
    Case("two_int_arrays", lambda m, a: a[[0, 1, 0], [2, 2, 2]], [(2, 3)], ref=lambda a: a[[0, 1, 0], [2, 2, 2]]),
    Case("bool_mask", lambda m, a, k: a[k], [(3, 3), MASK], ref=lambda a, k: a[k]),
    Case("bool_rows", lambda m, a, k: a[k] * 2, [(3, 2), ROWS], ref=lambda a, k: a[k] * 2),
    Case("index_select", lambda m, a, i: m.index_select(a, 0, i), [(3, 2), IDX], ref=lambda a, i: a[i]),
    Case("gather", lambda m, a, i: m.gather(a, 1, i), [(2, 3), Const(lambda r: np.array([[0, 0], [2, 1]]))],
         ref=lambda a, i: np.take_along_axis(a, i, 1)),
    Case("masked_fill", lambda m, a, k: a.masked_fill(k, 0.5), [(3, 3), MASK], ref=lambda a, k: np.where(k, 0.5, a)),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


def test_repeated_indices_accumulate():
    a = dg.zeros(3, requires_grad=True)
    a[dg.tensor([1, 1, 1, 2])].sum().backward()
    assert a.grad.tolist() == [0.0, 3.0, 1.0]


@pytest.mark.parametrize("index", [slice(None, None, -1), (0, slice(3, 0, -2)), slice(None, None, 0)])
def test_a_step_below_one_is_refused_as_in_pytorch(index):
    """PyTorch raises ValueError: its views cannot reverse (flip copies)."""
    x = dg.zeros(3, 4)
    with pytest.raises(ValueError, match=r"getitem.*step must be greater than zero"):
        x[index]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[index] = 1.0


def test_out_of_range_index_names_the_shape():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        dg.zeros(2, 3)[5]


def test_advanced_indexing_copies_so_changing_it_leaves_the_source_alone():
    a = dg.zeros(3, requires_grad=True)
    picked = a[[0, 0]]
    b = a * a  # saves a for backward
    with dg.no_grad():
        picked.add_(1.0)
    assert a.tolist() == [0.0, 0.0, 0.0]
    b.sum().backward()  # a itself was not changed: no version error


def test_setitem_on_a_leaf_requiring_grad_is_refused():
    a = dg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf tensor that requires grad"):
        a[0] = 1.0
    with dg.no_grad():
        a[0] = 1.0
    assert a.tolist() == [1.0, 0.0, 0.0]
