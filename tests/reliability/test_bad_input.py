"""Property-based tests over the ops: random shapes (empty and 0-d ones too), dtypes,
broadcasting and dims. Each call either matches NumPy (shape exactly, values closely) or
raises a clear error (ValueError, TypeError, RuntimeError or IndexError) whose message names
the op and the shapes; never a crash, a hang or a silently wrong broadcast. Bounded: about
50 examples per property, no deadline."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import distgrad as dg

CLEAR_ERRORS = (ValueError, TypeError, RuntimeError, IndexError)
# NumPy's warnings for the mean of nothing and such: the values are what the test checks.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
PROPERTY = settings(max_examples=50, deadline=None)

shapes = st.lists(st.integers(0, 4), max_size=4).map(tuple)
nonempty_shapes = st.lists(st.integers(1, 4), max_size=4).map(tuple)
dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.int32])
float_dtypes = st.sampled_from([np.float32, np.float64])
dims = st.integers(-5, 5)
seeds = st.integers(0, 2**32 - 1)
# Half compatible pairs (broadcasting proper), half anything (mostly incompatible).
compatible_pairs = mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4).map(lambda s: s.input_shapes)
shape_pairs = st.one_of(compatible_pairs, st.tuples(shapes, shapes))


def values(shape, dtype, seed, nonzero=False):
    """Small integers (exact in every dtype); without zeros for divisors."""
    v = np.random.default_rng(seed).integers(-4, 5, shape)
    if nonzero:
        v[v == 0] = 3
    return v.astype(dtype)


def outcome(call):
    """What ``call()`` gives: its result, or the clear error it raised (anything else fails)."""
    try:
        return call()
    except CLEAR_ERRORS as e:
        return e


def assert_clear(error, op, *named):
    """``error`` is a clear error naming ``op`` (a regex) and each of ``named`` (shapes, as
    Python prints tuples; dims, as numbers)."""
    assert isinstance(error, CLEAR_ERRORS), f"expected an error naming {op}, got the result {error!r}"
    message = str(error)
    assert re.search(rf"\b{op}\b", message), f"{op!r} not named in: {message}"
    for thing in named:
        assert str(thing) in message, f"{thing} not named in: {message}"


def expect_clear_error(call, op, *named):
    assert_clear(outcome(call), op, *named)


def check_like_numpy(got, expected, exact_dtype=None):
    assert tuple(got.shape) == expected.shape, (tuple(got.shape), expected.shape)
    if exact_dtype is not None:
        assert got.dtype == exact_dtype, (got.dtype, exact_dtype)
    np.testing.assert_allclose(got.numpy().astype(np.float64), expected.astype(np.float64), rtol=1e-6, atol=1e-6)


BINARY = {  # name in messages: (distgrad, NumPy reference, divisor must be nonzero)
    "add": (dg.add, np.add, False), "sub": (dg.sub, np.subtract, False), "mul": (dg.mul, np.multiply, False),
    "div": (dg.div, np.true_divide, True), "maximum": (dg.maximum, np.maximum, False),
    "minimum": (dg.minimum, np.minimum, False), "lt": (dg.lt, np.less, False), "eq": (dg.eq, np.equal, False),
}


@PROPERTY
@given(op=st.sampled_from(sorted(BINARY)), pair=shape_pairs, types=st.tuples(dtypes, dtypes), seed=seeds)
def test_binary_ops_broadcast_as_numpy_does_or_name_the_shapes(op, pair, types, seed):
    fn, reference, nonzero = BINARY[op]
    a_np, b_np = values(pair[0], types[0], seed), values(pair[1], types[1], seed + 1, nonzero)
    a, b = dg.from_numpy(a_np), dg.from_numpy(b_np)
    try:
        np.broadcast_shapes(*pair)
    except ValueError:
        expect_clear_error(lambda: fn(a, b), op, *pair)
        return
    out = fn(a, b)
    check_like_numpy(out, reference(a_np.astype(np.float64), b_np.astype(np.float64)),
                     exact_dtype=a.dtype if types[0] == types[1] and op not in ("div", "lt", "eq") else None)


@PROPERTY
@given(pair=compatible_pairs, op=st.sampled_from(["add", "sub"]), dtype=float_dtypes, seed=seeds)
def test_broadcast_gradients_flow_back_to_the_input_shapes(pair, op, dtype, seed):
    a = dg.from_numpy(values(pair[0], dtype, seed)).requires_grad_()
    b = dg.from_numpy(values(pair[1], dtype, seed + 1)).requires_grad_()
    out = BINARY[op][0](a, b)
    out.sum().backward()
    assert tuple(a.grad.shape) == pair[0] and tuple(b.grad.shape) == pair[1]
    # Broadcasting uses every input element equally often: out.size / input.size times.
    for t, sign in ((a, 1), (b, 1 if op == "add" else -1)):
        if t.numel() and out.numel():
            np.testing.assert_array_equal(t.grad.numpy(), np.full(t.shape, sign * out.numel() / t.numel()))


REDUCTIONS = {"sum": np.sum, "mean": np.mean, "amax": np.amax, "amin": np.amin, "prod": np.prod,
              "max": np.max, "argmax": np.argmax}
NAMED_AS = {"amax": "a?max", "amin": "a?min"}  # amax's errors may come from max, which it calls


@PROPERTY
@given(op=st.sampled_from(sorted(REDUCTIONS)), shape=shapes, dim=st.one_of(st.none(), dims),
       keepdim=st.booleans(), dtype=float_dtypes, seed=seeds)
def test_reductions_match_numpy_or_name_the_op_and_shape(op, shape, dim, keepdim, dtype, seed):
    x_np = values(shape, dtype, seed)
    x = dg.from_numpy(x_np)
    keepdim = keepdim and dim is not None
    name = NAMED_AS.get(op, op)
    got = outcome((lambda: getattr(dg, op)(x)) if dim is None else (lambda: getattr(dg, op)(x, dim, keepdim=keepdim)))
    if dim is not None and not -max(len(shape), 1) <= dim < max(len(shape), 1):
        assert_clear(got, name)
        assert str(dim) in str(got) or str(shape) in str(got), got  # the bad dim, or why it stopped before
        return
    try:
        with np.errstate(all="ignore"):
            expected = np.asarray(REDUCTIONS[op](x_np, axis=dim, **({} if op == "argmax" else {"keepdims": keepdim})))
        if op == "argmax" and keepdim:
            expected = np.expand_dims(expected, dim)
        if not shape:  # a 0-d tensor stays 0-d, keepdim or not (PyTorch)
            expected = expected.reshape(())
    except (ValueError, IndexError):  # NumPy refuses: an extremum of nothing, or a dim of a 0-d array
        expected = None
    if expected is None and not shape and dim is not None and not isinstance(got, Exception):
        expected = np.asarray(0 if op == "argmax" else x_np)  # PyTorch's reading: the tensor itself
    if expected is None:
        assert_clear(got, name, shape)
    elif isinstance(got, Exception):  # refusing is fine where PyTorch does too, never on plain input
        assert not (shape and all(shape)), f"{op} refused an ordinary input: {got}"
        assert_clear(got, name, shape)
    else:
        check_like_numpy(got.values if op == "max" and dim is not None else got, expected)


@PROPERTY
@given(a=st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple),
       b=st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple), seed=seeds)
def test_matmul_matches_numpy_or_names_both_shapes(a, b, seed):
    a_np, b_np = values(a, np.float64, seed), values(b, np.float64, seed + 1)
    try:
        expected = np.matmul(a_np, b_np)
    except ValueError:
        expect_clear_error(lambda: dg.matmul(dg.from_numpy(a_np), dg.from_numpy(b_np)), "matmul", a, b)
        return
    check_like_numpy(dg.matmul(dg.from_numpy(a_np), dg.from_numpy(b_np)), expected)


@PROPERTY
@given(shape=shapes, target=st.lists(st.integers(-1, 6), max_size=4).map(tuple), seed=seeds)
def test_reshape_matches_numpy_or_names_both_shapes(shape, target, seed):
    x_np = values(shape, np.float32, seed)
    if target.count(-1) > 1 or any(t < -1 for t in target):  # not a shape at all: that is the error
        expect_clear_error(lambda: dg.from_numpy(x_np).reshape(*target), "reshape", target)
        return
    try:
        expected = x_np.reshape(target)
    except ValueError:
        expect_clear_error(lambda: dg.from_numpy(x_np).reshape(*target), "reshape", shape, target)
        return
    check_like_numpy(dg.from_numpy(x_np).reshape(*target), expected)


@PROPERTY
@given(op=st.sampled_from(["cat", "stack"]), base=nonempty_shapes, count=st.integers(1, 3), dim=dims,
       vary=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), max_size=2), seed=seeds)
def test_cat_and_stack_match_numpy_or_name_the_shapes(op, base, count, dim, vary, seed):
    shapes_in = [list(base) for _ in range(count)]
    for which, size in vary:  # change one dimension of one input
        if shapes_in[0]:
            shapes_in[which % count][which % len(base)] = size
    arrays = [values(tuple(s), np.float32, seed + i) for i, s in enumerate(shapes_in)]
    tensors = [dg.from_numpy(a) for a in arrays]
    call = lambda: getattr(dg, op)(tensors, dim)  # noqa: E731
    try:
        expected = (np.concatenate if op == "cat" else np.stack)(arrays, axis=dim)
    except (ValueError, np.exceptions.AxisError):
        expect_clear_error(call, op)
        return
    check_like_numpy(call(), expected)


@PROPERTY
@given(shape=shapes, index=st.one_of(st.integers(-5, 5), st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
                                     st.slices(6)), seed=seeds)
def test_indexing_matches_numpy_or_names_the_shape(shape, index, seed):
    x_np = values(shape, np.float32, seed)
    if isinstance(index, slice) and index.step is not None and index.step < 0:
        # PyTorch refuses a reversing slice (NumPy's view reverses): flip() is the way.
        with pytest.raises(ValueError, match=r"getitem: step must be greater than zero"):
            dg.from_numpy(x_np)[index]
        return
    try:
        expected = x_np[index]
    except IndexError:
        expect_clear_error(lambda: dg.from_numpy(x_np)[index], "index", shape)
        return
    check_like_numpy(dg.from_numpy(x_np)[index], np.asarray(expected))


@PROPERTY
@given(op=st.sampled_from(["transpose", "squeeze", "unsqueeze", "softmax", "log_softmax"]), shape=shapes,
       d0=dims, d1=dims, seed=seeds)
def test_dim_taking_ops_match_numpy_or_name_the_op(op, shape, d0, d1, seed):
    x_np = values(shape, np.float64, seed)
    x = dg.from_numpy(x_np)
    bound = max(len(shape) + (1 if op == "unsqueeze" else 0), 1)
    got = outcome({"transpose": lambda: x.transpose(d0, d1), "squeeze": lambda: x.squeeze(d0),
                   "unsqueeze": lambda: x.unsqueeze(d0), "softmax": lambda: x.softmax(d0),
                   "log_softmax": lambda: x.log_softmax(d0)}[op])
    if not all(-bound <= d < bound for d in ((d0, d1) if op == "transpose" else (d0,))):
        assert_clear(got, op)
        return
    if not shape and op != "unsqueeze":  # a 0-d tensor: dims 0 and -1 name the tensor itself
        expected = x_np if op in ("transpose", "squeeze") else np.asarray(1.0 if op == "softmax" else 0.0)
    elif op == "transpose":
        expected = np.swapaxes(x_np, d0, d1)
    elif op == "squeeze":
        expected = np.squeeze(x_np, d0) if shape[d0] == 1 else x_np
    elif op == "unsqueeze":
        expected = np.expand_dims(x_np, d0)
    else:
        shifted = x_np - x_np.max(axis=d0, keepdims=True) if x_np.size else x_np
        log = shifted - np.log(np.exp(shifted).sum(axis=d0, keepdims=True))
        expected = np.exp(log) if op == "softmax" else log
    if isinstance(got, Exception):  # refusing is fine for empty tensors, never on plain input
        assert x_np.size == 0, f"{op} refused an ordinary input: {got}"
        assert_clear(got, op, shape)
    else:
        check_like_numpy(got, expected)
