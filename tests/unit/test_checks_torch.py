"""Argument checks and edge cases of shape, indexing, loss, linalg and activation ops, creation
and the API around them, compared with PyTorch (values and float64 gradients, or both raise)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as torch_F  # noqa: E402

import distgrad as dg  # noqa: E402
import distgrad.nn.functional as dg_F  # noqa: E402


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _run(m, fn, arrays, grad):
    leaves = [m.tensor(np.array(a), requires_grad=grad and np.asarray(a).dtype.kind == "f")
              for a in arrays]
    outs = _outputs(fn(m, *leaves))
    loss = None
    for k, o in enumerate(outs):
        if o.requires_grad:
            w = m.tensor(np.random.default_rng(k).standard_normal(tuple(o.shape)))
            loss = (o * w).sum() if loss is None else loss + (o * w).sum()
    if loss is not None:
        loss.backward()
    values = [np.array(o.detach().numpy()) for o in outs]
    grads = [None if leaf.grad is None else np.array(leaf.grad.numpy()) for leaf in leaves]
    return values, grads


def same(fn, *arrays, grad=True):
    """``fn(m, *tensors)`` gives the same outputs (dtype, shape, values) and gradients under both."""
    tv, tg = _run(torch, fn, arrays, grad)
    gv, gg = _run(dg, fn, arrays, grad)
    assert len(tv) == len(gv)
    for t, g in zip(tv, gv):
        assert (str(t.dtype), t.shape) == (str(g.dtype), g.shape)
        np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-12, equal_nan=True)
    for t, g in zip(tg, gg):
        assert (t is None) == (g is None) or not np.any(t if g is None else g)
        if t is not None and g is not None:
            np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-12, equal_nan=True)


def raises(fn, *arrays, error=Exception):
    """Both frameworks raise; distgrad raises ``error``."""
    with pytest.raises(Exception):
        _run(torch, fn, arrays, True)
    with pytest.raises(error):
        _run(dg, fn, arrays, True)


def arr(*shape, dtype="float64", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ shape ops
@pytest.mark.parametrize("dim", [0, 1, -2, 5])
def test_cat_skips_1d_empty_inputs(dim):
    if dim in (0, 1):
        same(lambda m, a, b, c: m.cat([a, b, c], dim=dim), arr(0), arr(2, 3), arr(0, dtype="float32"))
    same(lambda m, a, b: m.cat([a, b], dim=dim), arr(0), arr(0))


def test_cat_checks_every_input_for_0d():
    raises(lambda m, a, b: m.cat([a, b]), arr(2), arr())


@pytest.mark.parametrize("chunks,dim", [(4, 2), (3, 0), (1, 1)])
def test_chunk_of_an_empty_tensor(chunks, dim):
    same(lambda m, x: m.chunk(x, chunks, dim), arr(4, 2, 0))


@pytest.mark.parametrize("chunks", [0, -1])
def test_chunk_needs_positive_chunks(chunks):
    raises(lambda m, x: x.chunk(chunks), arr(4), error=RuntimeError)


@pytest.mark.parametrize("size,shape", [(0, (0,)), (2, (0, 3)), ([0, 0], (0, 3))])
def test_split_of_an_empty_dim(size, shape):
    same(lambda m, x: m.split(x, size), arr(*shape))


@pytest.mark.parametrize("size,shape", [(0, (3,)), (-1, (0, 3)), (-1, (3,)), ([3, -1], (2, 3))])
def test_split_bad_sizes_raise(size, shape):
    raises(lambda m, x: m.split(x, size), arr(*shape), error=RuntimeError)


@pytest.mark.parametrize("start,end", [(0, 0), (-1, 0), (0, -1), (-1, -1)])
def test_flatten_0d(start, end):
    same(lambda m, x: m.flatten(x, start, end), arr())


@pytest.mark.parametrize("shape,start,end", [((), 0, 1), ((2, 2), 1, 0), ((3, 2), -1, -2)])
def test_flatten_bad_dims_raise(shape, start, end):
    raises(lambda m, x: m.flatten(x, start, end), arr(*shape))


@pytest.mark.parametrize("shape,dim,sizes", [((0, 0), 1, (-1,)), ((0, 0), 1, (-1, 2)), ((0, 3), 0, (-1, 2)),
                                             ((2, 6), 1, (3, -1))])
def test_unflatten_infers_minus_one(shape, dim, sizes):
    same(lambda m, x: m.unflatten(x, dim, sizes), arr(*shape))


@pytest.mark.parametrize("shape,dim,sizes", [((0, 0), 1, (1,)), ((0, 3), 1, (-1, 0)), ((0, 3), 0, ()),
                                             ((), 0, (1,)), ((2, 3), 1, (-1, -1))])
def test_unflatten_checks_sizes_against_the_dim(shape, dim, sizes):
    raises(lambda m, x: m.unflatten(x, dim, sizes), arr(*shape))


def test_mT_of_0d_is_the_identity():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(lambda m, x: x.mT * 1, arr())


@pytest.mark.parametrize("value", [0.5, 0.0])
def test_nonzero_and_where_of_0d(value):
    same(lambda m, x: m.nonzero(x), np.array(value), grad=False)
    same(lambda m, x: m.nonzero(x, as_tuple=True), np.array(value), grad=False)
    same(lambda m, x: m.where(x != 0), np.array(value), grad=False)


# ------------------------------------------------------------------ indexing
def _ix(*values):
    return np.array(values, dtype="int64")


@pytest.mark.parametrize("dim,index", [(1, [[0], [2]]), (0, [[0, 1]]), (0, [[0], [1], [1]]), (1, [[2, 0]])])
def test_gather_over_the_index_extent(dim, index):
    same(lambda m, x, i: m.gather(x, dim, i), arr(2, 3), np.array(index))


@pytest.mark.parametrize("dim,index", [(1, [[-1], [2]]), (1, [[3], [2]]), (0, [[0, 1, 1, 1]]), (0, [0, 1])])
def test_gather_bad_index_raises(dim, index):
    raises(lambda m, x, i: m.gather(x, dim, i), arr(2, 3), np.array(index))


def test_gather_of_0d():
    same(lambda m, x, i: m.gather(x, 0, i), arr(), _ix(0))
    same(lambda m, x, i: m.gather(x, 0, i), arr(), np.array(0))


@pytest.mark.parametrize("index", [_ix(-1), _ix(3), _ix(0, -2)])
def test_index_select_out_of_range_raises(index):
    raises(lambda m, x, i: m.index_select(x, 1, i), arr(2, 3), index, error=IndexError)


@pytest.mark.parametrize("x,index", [(arr(2, 3), _ix(2, 0, 2)), (arr(2, 3), np.array(1)), (arr(), _ix(0))])
def test_index_select(x, index):
    same(lambda m, x, i: m.index_select(x, -1, i), x, index)


@pytest.mark.parametrize("shape,mask,lead", [((2, 3), [True, False, True], False), ((2, 3), [True, False], True),
                                             ((0, 0, 2), np.zeros((1, 0), bool), False)])
def test_mask_of_the_wrong_length_raises(shape, mask, lead):
    mask = np.array(mask, dtype=bool)
    raises(lambda m, x, k: x[:, k] if lead else x[k], arr(*shape), mask, error=IndexError)

    def assign(m, x, k):
        x = x.detach().clone()
        x[(slice(None), k) if lead else k] = 1.0
        return x
    raises(assign, arr(*shape), mask, error=IndexError)


def test_mask_after_an_ellipsis():
    same(lambda m, x, k: x[..., k], arr(2, 3), np.array([True, False, True]))


def test_uint8_index_is_a_mask():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(lambda m, x, k: x[k], arr(3, 2), np.array([1, 0, 1], dtype="uint8"))


def test_int_index_into_an_empty_tensor_is_not_checked():
    same(lambda m, x, i: x[:, i], arr(4, 3, 0), np.array([[2, -4], [1, 1]]))
    same(lambda m, x, i: x[i], arr(3, 0), _ix(5))
    raises(lambda m, x, i: x[i], arr(0, 3), _ix(1), error=IndexError)


@pytest.mark.parametrize("value", [1.5, -1.5, 2, True])
def test_masked_fill_keeps_an_integer_dtype(value):
    same(lambda m, x, k: x.masked_fill(k, value), _ix(1, 2, 2**40 + 1), np.array([True, False, True]))


@pytest.mark.parametrize("value", [float("-inf"), float("nan")])
def test_masked_fill_of_an_integer_tensor_with_inf_raises(value):
    raises(lambda m, x, k: x.masked_fill(k, value), _ix(1, 2), np.array([True, False]))


def test_masked_fill_with_a_0d_tensor_value():
    same(lambda m, x, k, v: x.masked_fill(k, v), arr(3), np.array([True, False, True]), np.array(2.5))
    raises(lambda m, x, k, v: x.masked_fill(k, v), arr(3), np.array([True, False, True]), arr(3))


# ------------------------------------------------------------------ API
def _grad_modes(m):
    """The grad mode seen at each step of the ways of using set_grad_enabled."""
    seen = []
    with m.set_grad_enabled(False):
        seen.append(m.is_grad_enabled())
        with m.set_grad_enabled(True):
            seen.append(m.is_grad_enabled())
        seen.append(m.is_grad_enabled())
    seen.append(m.is_grad_enabled())

    @m.set_grad_enabled(False)
    def f():
        return m.is_grad_enabled()
    seen += [m.is_grad_enabled(), f(), m.is_grad_enabled()]
    m.set_grad_enabled(False)
    seen.append(m.is_grad_enabled())
    m.set_grad_enabled(True)
    seen.append(m.is_grad_enabled())
    try:
        with m.set_grad_enabled(False):
            raise KeyError
    except KeyError:
        seen.append(m.is_grad_enabled())
    return seen


def test_set_grad_enabled_is_a_function_a_context_manager_and_a_decorator():
    assert _grad_modes(dg) == _grad_modes(torch) == [False, True, False, True, True, False, True, False, True, True]
    x = dg.tensor([1.0], requires_grad=True)
    with dg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


# ------------------------------------------------------------------ linalg
PRODUCTS = {"matmul": lambda m, a, b: m.matmul(a, b), "@": lambda m, a, b: a @ b, "mm": lambda m, a, b: m.mm(a, b),
            "bmm": lambda m, a, b: m.bmm(a, b), "dot": lambda m, a, b: m.dot(a, b)}
SHAPES = {"matmul": ((2, 3), (3,)), "@": ((2, 3), (3, 2)), "mm": ((2, 3), (3, 2)), "bmm": ((2, 1, 3), (2, 3, 2)),
          "dot": ((3,), (3,))}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products_need_one_dtype(name):
    sa, sb = SHAPES[name]
    same(PRODUCTS[name], arr(*sa), arr(*sb))
    raises(PRODUCTS[name], arr(*sa, dtype="float32"), arr(*sb), error=RuntimeError)
    raises(PRODUCTS[name], arr(*sa).astype("int64"), arr(*sb), error=RuntimeError)


def test_bmm_of_empty_operands_promotes():
    same(lambda m, a, b: m.bmm(a, b), np.ones((2, 1, 0), "int64"), arr(2, 0, 1))


def test_bmm_batch_sizes_must_match():
    raises(lambda m, a, b: m.bmm(a, b), arr(1, 2, 3), arr(2, 3, 4), error=RuntimeError)


def test_outer():
    same(lambda m, a, b: m.outer(a, b), arr(3, dtype="float32"), arr(2))
    raises(lambda m, a, b: m.outer(a, b), arr(3), arr(1, 2), error=RuntimeError)
    raises(lambda m, a, b: m.outer(a, b), arr(), arr(2), error=RuntimeError)


def test_linear_of_a_0d_input_raises():
    raises(lambda m, x, w: m.nn.functional.linear(x, w), arr(), arr(2, 3), error=RuntimeError)


# ------------------------------------------------------------------ activations
SPECIAL = np.array([-30.0, -5.0, -2.5, -1.0, -1e-3, 0.0, 0.3, 1.0, 2.0, 2.5, 6.0, 40.0, float("-inf"), float("nan")])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float64_to_full_precision(approximate):
    x = np.concatenate([SPECIAL, arr(50) * 3])
    same(lambda m, x: m.nn.functional.gelu(x, approximate=approximate), x)


@pytest.mark.parametrize("name", ["gelu", "leaky_relu"])
@pytest.mark.parametrize("x", [_ix(1, 2), np.zeros(0, "int64"), np.array([True])])
def test_gelu_and_leaky_relu_of_integer_tensors_raise(name, x):
    raises(lambda m, x: getattr(m.nn.functional, name)(x), x, error=NotImplementedError)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_sigmoid_tanh_of_integers_are_float32(name, dtype):
    tv, _ = _run(torch, lambda m, x: getattr(m, name)(x), [np.array([0, 1, 1]).astype(dtype)], False)
    gv, _ = _run(dg, lambda m, x: getattr(m, name)(x), [np.array([0, 1, 1]).astype(dtype)], False)
    assert gv[0].dtype == tv[0].dtype == np.float32
    np.testing.assert_allclose(gv[0], tv[0], rtol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_empty_and_integer_inputs(name):
    same(lambda m, x: getattr(m, name)(x, 1), arr(4, 0, 4))
    same(lambda m, x: getattr(m, name)(x, 0), arr(0, 3))
    same(lambda m, x: getattr(m, name)(x, 0), np.zeros((0, 2), "int64"))
    raises(lambda m, x: getattr(m, name)(x, 0), _ix(1, 2), error=NotImplementedError)
    same(lambda m, x: getattr(m, name)(x, 0, dtype=m.float64), _ix(1, 2))


def test_relu_passes_the_gradient_at_nan():
    same(lambda m, x: m.relu(x), np.array([0.5, float("nan"), -1.0, 0.0, float("-inf")]))


def test_relu_inplace_changes_its_input():
    for m in (torch, dg):
        x = m.tensor([-1.0, 2.0])
        y = m.nn.functional.relu(x, inplace=True)
        assert x.tolist() == [0.0, 2.0] and y is x
        x = m.tensor([-1.0, 2.0])
        m.nn.ReLU(inplace=True)(x)
        assert x.tolist() == [0.0, 2.0]


def test_leaky_relu_inplace_changes_its_input_and_keeps_the_gradient():
    grads = []
    for m in (torch, dg):
        x = m.tensor([-1.0, 2.0])
        assert m.nn.functional.leaky_relu(x, 0.5, inplace=True) is x and x.tolist() == [-0.5, 2.0]
        x = m.tensor([-1.0, 2.0])
        m.nn.LeakyReLU(0.5, inplace=True)(x)
        assert x.tolist() == [-0.5, 2.0]
        w = m.tensor([-2.0, 1.0, 3.0], dtype=m.float64, requires_grad=True)
        y = w * 1
        m.nn.functional.leaky_relu(y, 0.1, inplace=True)
        (y * m.tensor([1.0, 2.0, 3.0], dtype=m.float64)).sum().backward()
        grads.append(w.grad.tolist())
    assert grads[0] == grads[1]


# ------------------------------------------------------------------ losses
def _probabilities(*shape, axis=1, seed=1):
    p = np.random.default_rng(seed).random(shape)
    return p / p.sum(axis=axis, keepdims=True)


def _ce(m, x, t, w=None, **kw):
    return m.nn.functional.cross_entropy(x, t, weight=w, **kw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3, 1.0, -0.2])
def test_cross_entropy_with_class_probabilities(reduction, smoothing):
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    same(lambda m, x, t: _ce(m, x, t, **kw), arr(3, 4), _probabilities(3, 4))
    same(lambda m, x, t, w: _ce(m, x, t, w, **kw), arr(3, 4, 2), _probabilities(3, 4, 2), np.arange(1.0, 5.0))
    same(lambda m, x, t: _ce(m, x, t, **kw), arr(4), _probabilities(4, axis=0))
    same(lambda m, x, t: _ce(m, x, t, **kw), arr(0, 4), _probabilities(0, 4))


def test_cross_entropy_probability_targets_checks():
    raises(lambda m, x, t: _ce(m, x, t), arr(3, 4), np.ones((3, 4), "int64"), error=RuntimeError)
    raises(lambda m, x, t: _ce(m, x, t, ignore_index=1), arr(3, 4), _probabilities(3, 4), error=RuntimeError)
    raises(lambda m, x, t, w: _ce(m, x, t, w), arr(3, 4), _probabilities(3, 4), arr(3), error=RuntimeError)
    same(lambda m, x, t: _ce(m, x, t), np.zeros((0, 2), "int64"), np.zeros((0, 2)))


@pytest.mark.parametrize("smoothing", [1.5, 1.01])
def test_cross_entropy_label_smoothing_above_1_raises(smoothing):
    raises(lambda m, x, t: _ce(m, x, t, label_smoothing=smoothing), arr(3, 4), _ix(0, 1, 2), error=RuntimeError)


def test_cross_entropy_negative_label_smoothing_does_not_smooth():
    same(lambda m, x, t: _ce(m, x, t, label_smoothing=-0.1, reduction="sum"), arr(3, 4), _ix(0, 1, 3))


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_losses_check_weight_and_input_dtype(name):
    f = getattr(dg.nn.functional, name)
    g = getattr(torch_F, name)
    for m, fn in ((torch, g), (dg, f)):
        x, t = m.tensor(arr(3, 4)), m.tensor(_ix(0, 1, 2))
        with pytest.raises(RuntimeError):
            fn(x, t, weight=m.tensor(np.ones(3)))
        with pytest.raises(RuntimeError):
            fn(x, t, weight=m.tensor(np.ones(4, "float32")))
        with pytest.raises(NotImplementedError):
            fn(m.tensor(_ix(1, 2, 3)).reshape(1, 3), m.tensor(_ix(0)))
        with pytest.raises(NotImplementedError):
            fn(m.tensor(np.zeros((0, 2), "int64")), m.tensor(np.zeros(0, "int64")))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_cross_entropy_every_target_ignored(reduction, smoothing):
    same(lambda m, x, t: _ce(m, x, t, m.tensor(np.arange(1.0, 5.0)), ignore_index=1, reduction=reduction,
                             label_smoothing=smoothing), arr(2, 4), _ix(1, 1))
    same(lambda m, x, t: m.nn.functional.nll_loss(x, t, ignore_index=0, reduction=reduction),
         np.array([[0.5], [-np.inf], [-0.0]]), _ix(0, 0, 0))


def test_ignored_rows_with_non_finite_logits():
    x = np.array([[np.inf, -np.inf], [np.nan, -1.0], [-np.inf, 0.0]])
    same(lambda m, x, t: m.nn.functional.nll_loss(x, t, ignore_index=0, reduction="sum"), x, _ix(0, 1, 1))
    same(lambda m, x, t: _ce(m, x, t, ignore_index=0, label_smoothing=0.1, reduction="none"),
         np.array([[np.inf, 1.0], [0.5, -1.0]]), _ix(0, 1))


@pytest.mark.parametrize("shapes", [((0,), ()), ((0, 2), (2,)), ((1, 0, 2), (2, 0, 2))])
def test_mse_loss_of_empty_inputs_backward(shapes):
    same(lambda m, a, b: m.nn.functional.mse_loss(a, b), arr(*shapes[0]), arr(*shapes[1]))


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize("data", [np.float64(1.5), np.int32(3), np.float32(1), np.bool_(True), np.uint8(3),
                                  np.float16(2), np.ones(2), np.ones(2, "int32"), [np.float64(1.0), np.float64(2)],
                                  [np.ones(2), np.ones(2)], [1.0, 2], [[1, 2], [3, 4]], 2.5, True])
def test_tensor_keeps_numpy_dtypes(data):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.tensor(data)
    d = dg.tensor(data)
    assert str(d.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_array_equal(d.numpy(), t.numpy())


def test_as_tensor_shares_memory_with_numpy():
    for m in (torch, dg):
        a = np.ones(3)
        t = m.as_tensor(a)
        a[0] = 5.0
        assert t.tolist() == [5.0, 1.0, 1.0]
        b = np.ones(3, "float32")
        c = m.as_tensor(b, dtype=m.float64)
        b[0] = 5.0
        assert c.tolist() == [1.0, 1.0, 1.0] and str(c.dtype).endswith("float64")


def test_randint_high_and_size():
    for m in (torch, dg):
        x = m.randint(5, (2,))
        assert tuple(x.shape) == (2,) and str(x.dtype).endswith("int64") and 0 <= int(x.min()) <= int(x.max()) < 5
        y = m.randint(2, 5, (3, 2))
        assert tuple(y.shape) == (3, 2) and 2 <= int(y.min()) <= int(y.max()) < 5
        assert tuple(m.randint(5, size=(4,)).shape) == (4,)


@pytest.mark.parametrize("a,b", [(1.0, 0.0), (1, 0), (1.0, 0), (True, False), (True, 0)])
def test_where_with_two_python_scalars(a, b):
    same(lambda m, c: m.where(c, a, b), np.array([True, False, True]), grad=False)


@pytest.mark.parametrize("layer", ["BatchNorm1d", "LayerNorm"])
@pytest.mark.parametrize("train", [True, False])
def test_norm_layers_reject_integer_inputs(layer, train):
    for m in (torch, dg):
        module = getattr(m.nn, layer)(3).train(train)
        with pytest.raises(NotImplementedError if m is dg else (NotImplementedError, RuntimeError)):
            module(m.tensor(np.ones((4, 3), "int64")))


# ------------------------------------------------------------------ lr schedulers
def test_multistep_lr_step_epoch_after_a_save_load_round_trip(tmp_path):
    import warnings
    lrs = {}
    for m in (torch, dg):
        opt = m.optim.SGD([m.nn.Parameter(m.ones(2))], lr=0.1)
        sched = m.optim.lr_scheduler.MultiStepLR(opt, [2, 4, 4], 0.5)
        sched.step()
        m.save(sched.state_dict(), tmp_path / "sched.pt")
        restored = m.optim.lr_scheduler.MultiStepLR(opt, [1], 0.9)
        restored.load_state_dict(m.load(tmp_path / "sched.pt", **({"weights_only": False} if m is torch else {})))
        seen = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in (3, 4, 5):
                restored.step(epoch)
                seen.append(opt.param_groups[0]["lr"])
        restored.step()
        lrs[m.__name__] = seen + [opt.param_groups[0]["lr"]]
    np.testing.assert_allclose(lrs["distgrad"], lrs["torch"], rtol=1e-12)
