"""Elementwise arithmetic and math, with broadcasting: gradients, NumPy and PyTorch values."""
import numpy as np

from test_ops_common import Case, Const, Positive, broadcast_pair, op_tests


def pair(rng):
    return broadcast_pair(rng)


def positive_pair(rng):
    a, b = broadcast_pair(rng)
    return [Positive(a), b]


def mask_pair(rng):
    a, b = broadcast_pair(rng)
    return [Const(lambda r: r.random(np.broadcast_shapes(a, b)) < 0.5), a, b]


CASES = [
    Case("add", lambda m, a, b: a + b, pair, ref=np.add),
    Case("add_scalar", lambda m, a: 3.5 + a, [(2, 3)], ref=lambda a: 3.5 + a),
    Case("add_alpha", lambda m, a, b: m.add(a, b, alpha=2.0), pair, ref=lambda a, b: a + 2 * b),
    Case("sub", lambda m, a, b: a - b, pair, ref=np.subtract),
    Case("rsub_scalar", lambda m, a: 1.0 - a, [(3,)], ref=lambda a: 1.0 - a),
    Case("mul", lambda m, a, b: a * b, pair, ref=np.multiply),
    Case("div", lambda m, a, b: a / b, lambda r: [broadcast_pair(r)[0], Positive(broadcast_pair(r)[0])],
         ref=np.divide),
    Case("div_broadcast", lambda m, a, b: a / b, [(2, 3), Positive((3,))], ref=np.divide),
    Case("rdiv_scalar", lambda m, a: 2.0 / a, [Positive((4,))], ref=lambda a: 2.0 / a),
    Case("pow_tensor", lambda m, a, b: a ** b, positive_pair, ref=np.power),
    Case("pow_scalar", lambda m, a: a ** 3, [(2, 3)], ref=lambda a: a ** 3),
    Case("pow_fraction", lambda m, a: a ** 1.5, [Positive((5,))], ref=lambda a: a ** 1.5),
    Case("rpow", lambda m, a: 2.0 ** a, [(4,)], ref=lambda a: 2.0 ** a),
    Case("neg", lambda m, a: -a, [(2, 2)], ref=np.negative),
    Case("exp", lambda m, a: m.exp(a), [(3, 2)], ref=np.exp),
    Case("log", lambda m, a: m.log(a), [Positive((3, 2))], ref=np.log),
    Case("sqrt", lambda m, a: m.sqrt(a), [Positive((4,))], ref=np.sqrt),
    Case("rsqrt", lambda m, a: m.rsqrt(a), [Positive((4,))], ref=lambda a: 1 / np.sqrt(a)),
    Case("square", lambda m, a: m.square(a), [(4,)], ref=np.square),
    Case("abs", lambda m, a: m.abs(a), [(2, 4)], ref=np.abs),
    Case("clamp", lambda m, a: m.clamp(a, -0.5, 0.7), [(3, 4)], ref=lambda a: np.clip(a, -0.5, 0.7)),
    Case("clamp_min", lambda m, a: a.clamp(min=0.1), [(6,)], ref=lambda a: np.maximum(a, 0.1)),
    Case("clamp_tensor_bounds", lambda m, a, lo: m.clamp(a, min=lo), [(2, 3), (3,)],
         ref=lambda a, lo: np.maximum(a, lo)),
    Case("maximum", lambda m, a, b: m.maximum(a, b), pair, ref=np.maximum),
    Case("minimum", lambda m, a, b: m.minimum(a, b), pair, ref=np.minimum),
    Case("where", lambda m, c, a, b: m.where(c, a, b), mask_pair, ref=np.where),
    Case("where_scalar", lambda m, c, a: m.where(c, a, 0.0), [Const(lambda r: r.random((2, 3)) < 0.5), (2, 3)],
         ref=lambda c, a: np.where(c, a, 0.0)),
    Case("chain", lambda m, a, b: m.exp(-(a * b) ** 2) / (1 + m.abs(b)), pair,
         ref=lambda a, b: np.exp(-(a * b) ** 2) / (1 + np.abs(b))),
]

test_gradcheck, test_matches_numpy, test_matches_torch = op_tests(CASES)


def test_ties_share_the_gradient_equally():
    import distgrad as dg
    a = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = dg.tensor([1.0, 0.0, 5.0], requires_grad=True)
    dg.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0, 0.0]
    assert b.grad.tolist() == [0.5, 0.0, 1.0]
