"""Shape ops (views, transposes, expand) and cat/stack/split: gradients and values."""
import numpy as np
import pytest

import distgrad as dg
from test_ops_common import Case, op_tests

CASES = [
    Case("reshape", lambda m, a: a.reshape(3, -1) * 2, [(2, 3, 2)], ref=lambda a: a.reshape(3, -1) * 2),
    Case("view_tuple", lambda m, a: a.view((4, 3)), [(2, 6)], ref=lambda a: a.reshape(4, 3)),
    Case("flatten", lambda m, a: m.flatten(a), [(2, 3, 2)], ref=lambda a: a.reshape(-1)),
    Case("flatten_from_1", lambda m, a: a.flatten(1), [(2, 3, 2)], ref=lambda a: a.reshape(2, -1)),
    Case("flatten_middle", lambda m, a: a.flatten(1, 2), [(2, 2, 3, 2)], ref=lambda a: a.reshape(2, 6, 2)),
    Case("transpose", lambda m, a: a.transpose(0, 2), [(2, 3, 4)], ref=lambda a: a.swapaxes(0, 2)),
    Case("T", lambda m, a: a.T @ a, [(3, 2)], ref=lambda a: a.T @ a),
    Case("permute", lambda m, a: a.permute(2, 0, 1), [(2, 3, 4)], ref=lambda a: a.transpose(2, 0, 1)),
    Case("unsqueeze", lambda m, a: a.unsqueeze(1) * a.unsqueeze(-1), [(3, 2)],
         ref=lambda a: a[:, None] * a[..., None]),
    Case("squeeze_all", lambda m, a: a.squeeze(), [(1, 3, 1, 2)], ref=lambda a: a.squeeze()),
    Case("squeeze_dim", lambda m, a: a.squeeze(2), [(1, 3, 1, 2)], ref=lambda a: a.squeeze(2)),
    Case("expand", lambda m, a: a.expand(2, 3, 4), [(3, 1)], ref=lambda a: np.broadcast_to(a, (2, 3, 4))),
    Case("expand_minus_one", lambda m, a: a.expand(-1, 4), [(3, 1)], ref=lambda a: np.broadcast_to(a, (3, 4))),
    Case("expand_as", lambda m, a, b: a.expand_as(b) * b, [(1, 3), (2, 3)],
         ref=lambda a, b: np.broadcast_to(a, b.shape) * b),
    Case("cat", lambda m, a, b, c: m.cat([a, b, c], dim=0), [(1, 3), (2, 3), (3, 3)],
         ref=lambda a, b, c: np.concatenate([a, b, c])),
    Case("cat_dim1", lambda m, a, b: m.cat((a, b), 1), [(2, 1, 2), (2, 3, 2)],
         ref=lambda a, b: np.concatenate([a, b], 1)),
    Case("stack", lambda m, a, b: m.stack([a, b]), [(2, 3), (2, 3)], ref=lambda a, b: np.stack([a, b])),
    Case("stack_last", lambda m, a, b: m.stack([a, b], dim=-1), [(2, 3), (2, 3)],
         ref=lambda a, b: np.stack([a, b], -1)),
    Case("split_size", lambda m, a: m.split(a, 2), [(5, 2)], ref=lambda a: np.split(a, [2, 4])),
    Case("split_sections", lambda m, a: a.split([1, 3], dim=1), [(2, 4)], ref=lambda a: np.split(a, [1], 1)),
    Case("chunk", lambda m, a: a.chunk(3, 1), [(2, 6)], ref=lambda a: np.split(a, 3, 1)),
    Case("unbind", lambda m, a: a.unbind(1), [(2, 3)], ref=lambda a: [a[:, i] for i in range(3)]),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


def test_reshape_errors_name_the_shapes():
    with pytest.raises(RuntimeError, match=r"reshape.*\(4, 2\).*\(2, 3\)"):
        dg.zeros(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension can be -1"):
        dg.zeros(2, 3).reshape(-1, -1)


def test_cat_and_stack_errors_name_the_shapes():
    with pytest.raises(RuntimeError, match=r"cat.*\(2, 3\), \(2, 4\)"):
        dg.cat([dg.zeros(2, 3), dg.zeros(2, 4)])
    with pytest.raises(RuntimeError, match=r"stack.*\(2, 3\), \(3, 2\)"):
        dg.stack([dg.zeros(2, 3), dg.zeros(3, 2)])


def test_views_share_memory_and_version():
    a = dg.zeros(2, 3)
    v = a.view(3, 2)
    v.add_(1.0)
    assert a.tolist() == [[1.0] * 3] * 2
    assert a._version[0] == 1
