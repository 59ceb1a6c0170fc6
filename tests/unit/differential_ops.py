"""Signature tables for the differential test against PyTorch (test_differential_torch.py).

One entry per op: ``op(name, call, draw)``.

* ``call(m, *inputs, **kwargs)`` runs the op; ``m`` is the framework (``torch`` or
  ``distgrad``, with ``m.F`` for the functional namespace of each), ``inputs`` are tensors
  built by the harness from the drawn arrays, ``kwargs`` are the drawn plain values.
* ``draw(d)`` draws the arguments with the Hypothesis ``draw`` function ``d`` and returns
  ``(arrays, kwargs)``: NumPy arrays become input tensors (floating ones require grad),
  kwargs are passed through unchanged.
* ``method=True`` adds a second entry, ``Tensor.<name>``, that calls the same op as a method
  of its first input.

Adding an op is one line; the strategies below (shapes, dims, broadcast pairs, values) are
shared.
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

F64, F32, I64, I32, BOOL = "float64", "float32", "int64", "int32", "bool"
FLOATS = (F64, F64, F64, F32)
NUMERIC = (F64, F64, F64, F32, I64, I32)
ANY = (F64, F64, F64, F32, I64, I32, BOOL)
INTS_BOOL = (I64, I32, BOOL)

SIDES = (2, 3, 1, 4, 0)  # shrinks towards 2; 0 (empty) one time in five


@dataclass
class Op:
    name: str
    call: object
    draw: object
    nograd: tuple = ()   # indices of floating inputs that do not require grad
    leaf_ok: bool = False  # inputs may not be presented as transposed views (in-place on a leaf)


OPS = {}


def op(name, call, draw, method=False, **kw):
    OPS[name] = Op(name, call, draw, **kw)
    if method:
        key = "Tensor." + name.split(".")[-1]
        attr = key[len("Tensor."):].split("(")[0]  # "div(rounding_mode)": the method div
        OPS[key] = Op(key, lambda m, x, *rest, _a=attr, **k: getattr(x, _a)(*rest, **k), draw, **kw)


# ------------------------------------------------------------------ value and shape strategies
def values(d, shape, dtype):
    """An array of ``dtype``: normals, small integers (ties, zeros) or special values."""
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    if dtype == BOOL:
        return rng.random(shape) < 0.5
    if dtype in (I64, I32):
        return rng.integers(-3, 4, shape).astype(dtype)
    style = d(st.sampled_from(["normal", "ints", "normal", "special"]))
    if style == "normal":
        a = rng.standard_normal(shape)
    elif style == "ints":
        a = rng.integers(-2, 3, shape).astype(float)
    else:
        a = rng.choice(np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, np.nan, np.inf, -np.inf]), shape)
    return np.asarray(a, dtype=dtype)


def shape(d, min_dims=0, max_dims=3, sides=SIDES):
    n = d(st.integers(min_dims, max_dims))
    return tuple(d(st.sampled_from(sides)) for _ in range(n))


def nonempty(d, min_dims=0, max_dims=3):
    return shape(d, min_dims, max_dims, sides=(2, 3, 1, 4))


def dtype(d, choices):
    return d(st.sampled_from(choices))


def tensor(d, choices=FLOATS, min_dims=0, max_dims=3, shp=None):
    return values(d, shape(d, min_dims, max_dims) if shp is None else shp, dtype(d, choices))


def broadcast_pair(d, min_dims=0, max_dims=3):
    """Two shapes that broadcast (and now and then two that do not)."""
    a = shape(d, min_dims, max_dims)
    b = list(a[d(st.integers(0, len(a))):])
    b = [1 if d(st.integers(0, 3)) == 0 else s for s in b]
    if b and d(st.integers(0, 12)) == 0:
        b[0] += 2  # incompatible: both must raise
    b = tuple(b)
    return (b, a) if d(st.booleans()) else (a, b)


def a_dim(d, ndim, bad=True):
    """A dim in [-ndim, ndim) (0-d tensors accept 0 and -1), sometimes out of range."""
    n = max(ndim, 1)
    lo, hi = (-n - 1, n) if bad and d(st.integers(0, 9)) == 0 else (-n, n - 1)
    return d(st.integers(lo, hi))


def dims(d, ndim, none=True, tuples=True, empty=True):
    """A ``dim`` argument: None, an int, a tuple of distinct ints (negative ones too) or []."""
    kinds = ["int"] + (["none"] if none else []) + (["tuple", "tuple"] if tuples else []) + \
        (["empty"] if empty else [])
    kind = d(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return a_dim(d, ndim)
    if kind == "empty":
        return []
    if ndim == 0:
        return d(st.sampled_from([(0,), (-1,), ()]))
    k = min(d(st.sampled_from([2, 1, 3])), ndim)  # two or more dims as often as one
    chosen = list(d(st.permutations(range(ndim))))[:k]
    return tuple(c - ndim if d(st.booleans()) else c for c in chosen)


def kwargs(**drawn):
    """Drop the keyword arguments drawn as None (use the op's default)."""
    return {k: v for k, v in drawn.items() if v is not None}


def scalar(d, kinds=("int", "float", "bool")):
    kind = d(st.sampled_from(kinds))
    if kind == "int":
        return d(st.integers(-3, 3))
    if kind == "bool":
        return d(st.booleans())
    return d(st.sampled_from([0.5, -1.5, 2.0, 0.0, 3.25]))


# ------------------------------------------------------------------ draw functions by signature
def unary(choices=ANY, min_dims=0, max_dims=3, **kw_strategies):
    def draw(d):
        x = tensor(d, choices, min_dims, max_dims)
        return [x], kwargs(**{k: d(s) for k, s in kw_strategies.items()})
    return draw


def binary(choices=ANY, other_scalar=True, **kw_strategies):
    def draw(d):
        sa, sb = broadcast_pair(d)
        a = values(d, sa, dtype(d, choices))
        kw = kwargs(**{k: d(s) for k, s in kw_strategies.items()})
        if other_scalar and d(st.integers(0, 3)) == 0:
            return [a], dict(kw, other=scalar(d))
        return [a, values(d, sb, dtype(d, choices))], kw
    return draw


def ternary_where(d):
    s1, s2 = broadcast_pair(d)
    s3 = d(st.sampled_from([s1, s2, ()]))
    cond = values(d, s1, BOOL)
    return [cond, values(d, s2, dtype(d, NUMERIC)), values(d, s3, dtype(d, NUMERIC))], {}


def binop(sym):
    """``a <sym> b`` with b a tensor or the drawn scalar ``other``."""
    code = compile(f"lambda a, b: a {sym} b", sym, "eval")
    f = eval(code)
    return lambda m, a, b=None, other=None: f(a, other if b is None else b)


def rbinop(sym):
    """``scalar <sym> tensor`` (the reflected operator)."""
    f = eval(compile(f"lambda a, b: a {sym} b", sym, "eval"))
    return lambda m, a, other: f(other, a)


def with_other(fn):
    """Call ``fn(a, b_or_scalar, **rest)``."""
    return lambda m, a, b=None, other=None, **k: fn(m)(a, other if b is None else b, **k)


def reduction(choices=NUMERIC, none=True, tuples=True, empty=True, keepdim=True, **extra):
    def draw(d):
        x = tensor(d, choices)
        kw = kwargs(dim=dims(d, x.ndim, none, tuples, empty),
                    keepdim=d(st.booleans()) if keepdim and d(st.booleans()) else None,
                    **{k: d(s) for k, s in extra.items()})
        if "keepdim" in kw and "dim" not in kw:
            kw.pop("keepdim")  # keepdim without dim is not a signature of torch.max/argmax etc.
        return [x], kw
    return draw


def var_draw(d):
    x = tensor(d, FLOATS + (I64,))
    kw = kwargs(dim=dims(d, x.ndim), keepdim=d(st.sampled_from([None, True, False])))
    style = d(st.sampled_from(["none", "unbiased", "correction"]))
    if style == "unbiased":
        kw["unbiased"] = d(st.booleans())
        if "dim" not in kw:
            kw.pop("keepdim", None)  # var(x, unbiased, keepdim) is not a PyTorch signature
    elif style == "correction":
        kw["correction"] = d(st.sampled_from([0, 1, 2, 0.5]))
    return [x], kw


def norm_draw(d):
    x = tensor(d, FLOATS + (I64,))
    kw = kwargs(p=d(st.sampled_from([None, 1, 2, float("inf"), float("-inf"), 0, 3, 1.5, "fro"])),
                dim=dims(d, x.ndim, tuples=True, empty=False) if d(st.booleans()) else None)
    if isinstance(kw.get("dim"), tuple) and len(kw["dim"]) > 2:
        kw["dim"] = kw["dim"][:2]
    if "dim" in kw and d(st.booleans()):
        kw["keepdim"] = d(st.booleans())
    return [x], kw


def softmax_draw(d):
    x = tensor(d, FLOATS + (I64,))
    return [x], {"dim": a_dim(d, x.ndim)}


def clamp_draw(d):
    x = tensor(d, NUMERIC)
    kw, arrays = {}, [x]
    for bound in ("min", "max"):
        kind = d(st.sampled_from(["none", "scalar", "tensor"]))
        if kind == "scalar":
            kw[bound] = d(st.sampled_from([0, -1, 1, 0.5, -0.5, 2]))
        elif kind == "tensor":
            sb = x.shape[d(st.integers(0, x.ndim)):]
            arrays.append(values(d, sb, x.dtype.name if d(st.integers(0, 3)) else F64))
            kw[bound + "_index"] = len(arrays) - 1
    return arrays, kw


def clamp_call(m, *xs, min=None, max=None, min_index=None, max_index=None):
    lo = xs[min_index] if min_index is not None else min
    hi = xs[max_index] if max_index is not None else max
    return m.clamp(xs[0], min=lo, max=hi)


def pow_draw(d):
    kind = d(st.sampled_from(["tensor", "scalar", "scalar", "self", "base"]))
    if kind == "tensor":
        sa, sb = broadcast_pair(d)
        return [values(d, sa, dtype(d, NUMERIC)), values(d, sb, dtype(d, NUMERIC))], {}
    x = tensor(d, NUMERIC)
    if kind == "self":
        return [x], {"self": True}
    e = d(st.sampled_from([0, 1, 2, 3, -1, -2, 0.5, 2.5, -0.5, 0.0, 1.0]))
    return [x], ({"exponent": e} if kind == "scalar" else {"base": d(st.sampled_from([2, 0.5, 0, -2.0, 1]))})


def pow_call(m, a, b=None, exponent=None, self=False, base=None):
    if b is not None:
        return m.pow(a, b)
    if self:
        return a ** a
    if base is not None:
        return base ** a
    return m.pow(a, exponent)


def div_draw(d):
    arrays, kw = binary(NUMERIC)(d)
    mode = d(st.sampled_from([None, "trunc", "floor", "floor", "bogus"]))
    return arrays, kwargs(rounding_mode=mode, **kw)


# ------------------------------------------------------------------ shape ops
def shape_target(d, s):
    """A new shape with the same number of elements (maybe with -1), or a wrong one."""
    n = int(np.prod(s))
    kind = d(st.sampled_from(["flat", "split", "minus1", "wrong", "same"]))
    if kind == "flat":
        return (n,)
    if kind == "same":
        return tuple(s)
    if kind == "wrong":
        return (n + 1,)
    divisors = [k for k in range(1, n + 1) if n % k == 0] or [1]
    k = d(st.sampled_from(divisors))
    if kind == "minus1":
        return (k, -1) if n else (0, -1) if d(st.booleans()) else (-1, 0)
    return (k, n // k, 1)


def reshape_draw(d):
    x = tensor(d, ANY)
    return [x], {"shape": shape_target(d, x.shape)}


def flatten_draw(d):
    x = tensor(d, ANY)
    return [x], kwargs(start_dim=a_dim(d, x.ndim) if d(st.booleans()) else None,
                       end_dim=a_dim(d, x.ndim) if d(st.booleans()) else None)


def squeeze_draw(d):
    x = values(d, shape(d, sides=(1, 2, 1, 0)), dtype(d, FLOATS))
    return [x], kwargs(dim=dims(d, x.ndim, empty=False))


def unsqueeze_draw(d):
    x = tensor(d, ANY)
    return [x], {"dim": a_dim(d, x.ndim + 1)}


def transpose_draw(d):
    x = tensor(d, ANY)
    return [x], {"dim0": a_dim(d, x.ndim), "dim1": a_dim(d, x.ndim)}


def permute_draw(d):
    x = tensor(d, ANY, 1)
    perm = list(d(st.permutations(range(x.ndim))))
    perm = [p - x.ndim if d(st.booleans()) else p for p in perm]
    if perm and d(st.integers(0, 9)) == 0:
        perm[0] = perm[-1]  # repeated dim: both raise (unless ndim == 1)
    return [x], {"dims": tuple(perm)}


def expand_draw(d):
    s = shape(d, max_dims=3, sides=(1, 2, 1, 3, 0))
    x = values(d, s, dtype(d, FLOATS))
    lead = tuple(d(st.sampled_from([2, 1, 0])) for _ in range(d(st.integers(0, 2))))
    target = lead + tuple(d(st.sampled_from([-1, 3, 2] if k == 1 else [-1, k, k, k + 1])) for k in s)
    return [x], {"sizes": target}


def t_draw(d):
    return [tensor(d, ANY, 0, 3 if d(st.integers(0, 5)) == 0 else 2)], {}


def cat_draw(d):
    s = shape(d, 1, 3)
    dim = a_dim(d, len(s))
    n = d(st.integers(1, 3))
    arrays = []
    dt = dtype(d, FLOATS)
    for _ in range(n):
        si = list(s)
        if -len(s) <= dim < len(s):
            si[dim] = d(st.sampled_from([1, 2, 0]))
        if d(st.integers(0, 12)) == 0:
            si = si[:-1]  # a different rank: both raise
        arrays.append(values(d, tuple(si), dt if d(st.integers(0, 6)) else dtype(d, ANY)))
    return arrays, {"dim": dim}


def stack_draw(d):
    s = shape(d, 0, 3)
    n = d(st.integers(1, 3))
    dt = dtype(d, FLOATS)
    arrays = [values(d, s if d(st.integers(0, 12)) else s + (2,), dt) for _ in range(n)]
    return arrays, {"dim": a_dim(d, len(s) + 1)}


def split_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    dim = a_dim(d, x.ndim)
    size = x.shape[dim] if -x.ndim <= dim < x.ndim else 2
    if d(st.booleans()):
        arg = d(st.sampled_from([1, 2, 3, -1, 0]))
    else:
        parts = d(st.lists(st.integers(0, 3), min_size=1, max_size=3))
        if d(st.integers(0, 3)):
            parts[-1] = max(size - sum(parts[:-1]), 0)
        arg = parts
    return [x], {"split_size_or_sections": arg, "dim": dim}


def chunk_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    return [x], {"chunks": d(st.sampled_from([1, 2, 3, 4, 0])), "dim": a_dim(d, x.ndim)}


def unbind_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    return [x], {"dim": a_dim(d, x.ndim)}


def unflatten_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    dim = a_dim(d, x.ndim, bad=False)
    n = x.shape[dim]
    sizes = d(st.sampled_from([(n,), (1, n), (-1, 1), (n, -1) if n else (0, 1), (n + 1,)]))
    return [x], {"dim": dim, "sizes": sizes}


def as_draw(d):
    """For view_as / reshape_as / expand_as: a second tensor whose shape is the target."""
    x = tensor(d, FLOATS)
    n = x.size
    other = d(st.sampled_from([(n,), (1, n), x.shape, (2,) + x.shape, (n + 1,)]))
    return [x, values(d, other, F64)], {}


# ------------------------------------------------------------------ indexing
def slice_index(d, s):
    """A basic index: ints, slices (negative bounds, steps), None and Ellipsis."""
    idx = []
    for k in s[:d(st.integers(0, len(s)))]:
        kind = d(st.sampled_from(["slice", "int", "slice", "none", "full"]))
        if kind == "int":
            idx.append(d(st.integers(-k - 1 if d(st.integers(0, 9)) == 0 else -k, k if k else 0)) if k else 0)
        elif kind == "none":
            idx.append(None)
        elif kind == "full":
            idx.append(slice(None))
        else:
            idx.append(slice(d(st.sampled_from([None, 0, 1, -1, -2, 5])), d(st.sampled_from([None, 2, -1, 0, 9])),
                             d(st.sampled_from([None, 1, 2]))))
    if d(st.integers(0, 4)) == 0:
        idx.insert(d(st.integers(0, len(idx))), Ellipsis)
    return tuple(idx)


def getitem_draw(d):
    x = tensor(d, ANY, 0, 3)
    return [x], {"index": slice_index(d, x.shape)}


def intindex_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    n = x.shape[0]
    idx = np.random.default_rng(d(st.integers(0, 99))).integers(-n, max(n, 1), d(st.sampled_from([(3,), (2, 2), (0,), (1,)])))
    if d(st.integers(0, 9)) == 0:
        idx = idx.copy()
        idx.flat[:1] = n  # out of range: both raise
    idx = idx.astype(I64)
    second = d(st.booleans()) and x.ndim > 1
    return [x, idx], {"second": second}


def intindex_call(m, x, idx, second):
    return x[:, idx] if second else x[idx]


def mask_draw(d):
    x = tensor(d, ANY, 1, 3)
    k = d(st.integers(1, x.ndim))
    ms = x.shape[:k]
    if d(st.integers(0, 5)) == 0:
        ms = (ms[0] + 1,) + ms[1:]  # wrong length: PyTorch raises
    return [x, values(d, ms, BOOL)], {}


def gather_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    dim = a_dim(d, x.ndim, bad=False)
    rng = np.random.default_rng(d(st.integers(0, 99)))
    ishape = tuple(d(st.integers(0, k)) if j != dim else d(st.integers(0, 3)) for j, k in enumerate(x.shape))
    n = x.shape[dim]
    idx = rng.integers(0, n, ishape) if n else np.zeros(ishape, dtype=np.int64)
    if idx.size and d(st.integers(0, 7)) == 0:
        idx.flat[0] = d(st.sampled_from([-1, n]))  # out of range: PyTorch raises
    return [x, idx.astype(I64)], {"dim": dim}


def index_select_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    dim = a_dim(d, x.ndim, bad=False)
    n = x.shape[dim]
    rng = np.random.default_rng(d(st.integers(0, 99)))
    idx = rng.integers(0, n, d(st.integers(0, 4))) if n else np.zeros(0, dtype=np.int64)
    if idx.size and d(st.integers(0, 7)) == 0:
        idx[0] = d(st.sampled_from([-1, n]))
    return [x, idx.astype(I64)], {"dim": dim}


def masked_fill_draw(d):
    sa, sb = broadcast_pair(d)
    x = values(d, sa, dtype(d, NUMERIC))
    return [x, values(d, sb, BOOL)], {"value": d(st.sampled_from([0.0, -1.5, 2, float("-inf")]))}


# ------------------------------------------------------------------ losses and linalg
def class_logits(d, int_input=False):
    c = d(st.integers(1, 4))
    kind = d(st.sampled_from(["NC", "NC", "C", "NCd"]))
    n = d(st.sampled_from([3, 1, 0, 2]))
    s = {"NC": (n, c), "C": (c,), "NCd": (n, c, 2)}[kind]
    x = values(d, s, I64 if int_input else F64)
    return x, c, s


def ce_draw(d, nll=False):
    x, c, s = class_logits(d, int_input=d(st.integers(0, 12)) == 0)
    ts = s[:1] + s[2:] if len(s) > 1 else ()
    rng = np.random.default_rng(d(st.integers(0, 99)))
    arrays = [x]
    kw = {}
    if not nll and d(st.integers(0, 3)) == 0:
        p = rng.random(s)
        arrays.append(p / np.maximum(p.sum(axis=1 if len(s) > 1 else 0, keepdims=True), 1e-9))  # probabilities
    else:
        t = rng.integers(0, c, ts)
        if t.size and d(st.integers(0, 3)) == 0:
            t.flat[0] = d(st.sampled_from([-100, 1, c, -1]))
        arrays.append(t.astype(I64))
    if d(st.booleans()):
        arrays.append(rng.random(c) + 0.5)
        kw["weight"] = True
    kw.update(kwargs(ignore_index=d(st.sampled_from([None, None, 1, 0, -1])),
                     reduction=d(st.sampled_from([None, "sum", "none", "bogus"]))))
    if not nll:
        ls = d(st.sampled_from([None, None, 0.1, 0.5, 1.0, 1.5, -0.1]))
        if ls is not None:
            kw["label_smoothing"] = ls
    return arrays, kw


def loss_call(name):
    def call(m, x, t, w=None, weight=False, **k):
        return getattr(m.F, name)(x, t, weight=w, **k)
    return call


def mse_draw(d):
    sa, sb = broadcast_pair(d)
    return [values(d, sa, F64), values(d, sb, F64)], kwargs(reduction=d(st.sampled_from([None, "sum", "none"])))


REDUCTIONS = [None, "sum", "none", "mean", "bogus"]


def probabilities(d, s):
    """Values in [0, 1], now and then exactly 0 or 1 (or, rarely, outside); float32 one time in four."""
    rng = np.random.default_rng(d(st.integers(0, 99)))
    p = rng.random(s)
    if p.size and d(st.integers(0, 2)) == 0:
        p.flat[0] = d(st.sampled_from([0.0, 1.0, 0.0, 1.0, 1.5, np.nan]))
    return p.astype(dtype(d, FLOATS))


def bce_draw(d, logits=False):
    """(input, target[, weight][, pos_weight]); target of another shape now and then."""
    s = shape(d, 0, 3)
    x = values(d, s, dtype(d, FLOATS)) if logits else probabilities(d, s)
    ts = s if d(st.integers(0, 8)) else s + (2,)
    arrays, kw = [x, probabilities(d, ts)], kwargs(reduction=d(st.sampled_from(REDUCTIONS)))
    arrays.append((np.random.default_rng(1).random(s[-1:]) + 0.5).astype(dtype(d, FLOATS))
                  if d(st.booleans()) else None)
    if logits and d(st.booleans()):
        arrays.append((np.random.default_rng(2).random(s[-1:]) * 3).astype(dtype(d, FLOATS)))
    return [a for a in arrays if a is not None], kw | {"w": arrays[2] is not None}


def bce_call(name):
    def call(m, x, t, *ws, w=False, **k):
        weight, pos = (ws[0], ws[1:]) if w else (None, ws)
        return getattr(m.F, name)(x, t, weight, **k, **({"pos_weight": pos[0]} if pos else {}))
    return call


def pair_loss_draw(d, param=None, values_=(1.0, 0.5, 2.0, 0.0, -1.0)):
    arrays, kw = mse_draw(d)
    arrays = [a.astype(dtype(d, FLOATS)) for a in arrays]
    kw = kwargs(reduction=d(st.sampled_from(REDUCTIONS)))
    if param:
        kw.update(kwargs(**{param: d(st.sampled_from((None,) + values_))}))
    return arrays, kw


def kl_draw(d):
    sa, sb = broadcast_pair(d)
    log_target = d(st.booleans())
    t = values(d, sb, F64) if log_target else probabilities(d, sb)
    return [values(d, sa, dtype(d, FLOATS)), t], kwargs(reduction=d(st.sampled_from(REDUCTIONS + ["batchmean"])),
                                           log_target=log_target)


def signs(d, s):
    rng = np.random.default_rng(d(st.integers(0, 99)))
    return rng.choice(np.array([1.0, -1.0, 1.0, -1.0, 0.0]), s)


def ranking_draw(d, cosine=False):
    """(input1, input2, target of +-1); a 1-D pair (or 2-D rows with cosine), and now and then
    mismatched dimensions."""
    n, k = d(st.sampled_from([3, 1, 0])), d(st.sampled_from([2, 3, 1]))
    s = d(st.sampled_from([(n, k), (n, k), (k,), (n, k, 2)] if cosine else [(n,), (n,), (), (n, 2)]))
    ts = s[:-1] if cosine else s
    if d(st.integers(0, 8)) == 0:
        ts = ts + (1,)
    kw = kwargs(reduction=d(st.sampled_from(REDUCTIONS)), margin=d(st.sampled_from([None, 0.5, -0.3, 0.0])))
    return [values(d, s, dtype(d, FLOATS)), values(d, s, F64), signs(d, ts).astype(dtype(d, FLOATS))], kw


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
                 ((3,), (2, 3, 4)), ((2, 2, 3), (2, 3, 1)), ((1, 2, 3), (4, 3, 2)), ((2, 3), (4, 2)),
                 ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((), (3,)), ((2, 3, 4), (2, 4))]


def matmul_draw(d, pairs=None):
    sa, sb = d(st.sampled_from(pairs or MATMUL_SHAPES))
    dt = dtype(d, (F64, F64, F64, F32, I64))
    return [values(d, sa, dt), values(d, sb, dt if d(st.integers(0, 5)) else F64)], {}


def linear_draw(d):
    i, o = d(st.integers(1, 3)), d(st.integers(1, 3))
    s = shape(d, 0, 2) + (i,)
    arrays = [values(d, s, F64), values(d, (o, i) if d(st.integers(0, 9)) else (o, i + 1), F64)]
    if d(st.booleans()):
        arrays.append(values(d, (o,), F64))
    return arrays, {}


# ------------------------------------------------------------------ in-place ops on non-leaf tensors and views
VIEWS = {
    "whole": lambda y: y,
    "slice": lambda y: y[0:2],
    "select": lambda y: y[1],
    "transpose": lambda y: y.transpose(0, -1),
    "flat": lambda y: y.view(-1),
    "strided": lambda y: y[::2],
}
INPLACE = {
    "add_": lambda v, o: v.add_(o),
    "sub_": lambda v, o: v.sub_(o),
    "mul_": lambda v, o: v.mul_(o),
    "div_": lambda v, o: v.div_(o),
    "pow_": lambda v, o: v.pow_(2),
    "clamp_": lambda v, o: v.clamp_(-0.5, 0.5),
    "relu_": lambda v, o: v.relu_(),
    "zero_": lambda v, o: v.zero_(),
    "fill_": lambda v, o: v.fill_(1.5),
    "copy_": lambda v, o: v.copy_(o),
    "masked_fill_": lambda v, o: v.masked_fill_(o > 0, 0.0),
    "iadd": lambda v, o: v.__iadd__(o),
    "imul": lambda v, o: v.__imul__(o),
    "setitem": lambda v, o: v.__setitem__(0, o[0] if o.ndim else o),
}


def view_shape(view, s):
    if view == "slice":
        return (min(s[0], 2),) + s[1:]
    if view == "select":
        return s[1:] if s[0] > 1 else ()
    if view == "transpose":
        return s[::-1][:1] + s[1:-1] + s[:1] if len(s) > 1 else s
    if view == "flat":
        return (int(np.prod(s)),)
    if view == "strided":
        return ((s[0] + 1) // 2,) + s[1:]
    return s


def inplace_draw(d):
    x = tensor(d, (F64,), 1, 3, shp=nonempty(d, 1, 3))
    view = d(st.sampled_from(sorted(VIEWS)))
    opname = d(st.sampled_from(sorted(INPLACE)))
    leaf = d(st.integers(0, 9)) == 0  # directly on the leaf: PyTorch raises
    vs = view_shape(view, x.shape)
    arrays = [x, values(d, vs[d(st.integers(0, len(vs))):], F64)]
    return arrays, {"view": view, "inplace": opname, "leaf": leaf}


def inplace_call(m, x, o, view, inplace, leaf):
    y = x if leaf else x * 1
    INPLACE[inplace](VIEWS[view](y), o)
    return y


def inplace_twice_call(m, x, o, view, inplace, leaf):
    """The in-place op on a view, then the result used through another op."""
    y = x if leaf else x.exp()
    INPLACE[inplace](VIEWS[view](y), o)
    return (y * y).sum(0)


def narrow_draw(d):
    x = tensor(d, ANY, 1, 3)
    axis = a_dim(d, x.ndim)
    size = x.shape[axis] if -x.ndim <= axis < x.ndim else 0
    start = d(st.integers(-size - 1, size))
    return [x], {"dim": axis, "start": start, "length": d(st.integers(-1, size + 1))}


def flip_draw(d):
    x = tensor(d, ANY)
    return [x], {"dims": dims(d, x.ndim, none=False, empty=False)}


def roll_draw(d):
    x = tensor(d, ANY)
    if d(st.booleans()):
        return [x], {"shifts": d(st.integers(-5, 5))}
    axes = dims(d, x.ndim, none=False, tuples=True, empty=False)
    n = len(axes) if isinstance(axes, tuple) else None
    shifts = tuple(d(st.integers(-5, 5)) for _ in range(n)) if n is not None else d(st.integers(-5, 5))
    return [x], {"shifts": shifts, "dims": axes}


def repeat_draw(d):
    x = tensor(d, ANY, 0, 2)
    n = d(st.integers(max(x.ndim - 1, 0), x.ndim + 2))
    return [x], {"sizes": tuple(d(st.sampled_from([1, 2, 3, 0])) for _ in range(n))}


def repeat_interleave_draw(d):
    x = tensor(d, ANY, 0, 3)
    kw = kwargs(dim=a_dim(d, x.ndim) if d(st.booleans()) else None)
    if d(st.booleans()):
        return [x], dict(kw, repeats=d(st.integers(0, 3)))
    size = (x.shape[kw["dim"]] if x.ndim and -x.ndim <= kw["dim"] < x.ndim else 1) if "dim" in kw else x.size
    return [x, np.random.default_rng(size).integers(0, 3, size)], kw


def sort_draw(**extra):
    def draw(d):
        x = tensor(d, NUMERIC)
        return [x], kwargs(dim=a_dim(d, x.ndim) if d(st.booleans()) else None,
                           **{k: d(s) for k, s in extra.items()})
    return draw


def topk_draw(d):
    """Distinct values: which of tied elements topk picks, and in what order, is PyTorch's
    implementation's choice (it differs between its kernels)."""
    x = tensor(d, NUMERIC)
    x = (np.random.default_rng(x.size).permutation(x.size).reshape(x.shape) - x.size // 2).astype(x.dtype)
    axis = a_dim(d, x.ndim, bad=False)
    size = x.shape[axis] if x.ndim else 1
    return [x], kwargs(k=d(st.integers(0, size + 1)), dim=axis, largest=d(st.sampled_from([None, True, False])))


def scan_draw(d):
    x = tensor(d, ANY)
    return [x], kwargs(dim=a_dim(d, x.ndim))


def lerp_draw(d):
    sa, sb = broadcast_pair(d)
    t = dtype(d, FLOATS)
    arrays = [values(d, sa, t), values(d, sb, t)]
    if d(st.booleans()):
        return arrays, {"weight": d(st.sampled_from([0.25, 0.75, 0.0, 1.0, -1.5]))}
    return arrays + [values(d, sb, t)], {}


def addmm_draw(d):
    (a, b) = d(st.sampled_from([((2, 3), (3, 4)), ((0, 2), (2, 1)), ((2, 3), (3, 4)), ((1, 1), (1, 5))]))
    out = d(st.sampled_from([(a[0], b[1]), (b[1],), (1, b[1]), (), (a[0], 1), (3, 3)]))
    kw = kwargs(beta=d(st.sampled_from([None, 0, 0.5, 2])), alpha=d(st.sampled_from([None, 1, -1.5])))
    return [values(d, out, F64), values(d, a, F64), values(d, b, F64)], kw


# ------------------------------------------------------------------ the table
def _u(name, choices=ANY, method=True, **kw):
    op(name, lambda m, x, _n=name, **k: getattr(m, _n)(x, **k), unary(choices, **kw), method=method)


for _name in ["abs", "neg", "exp", "log", "sqrt", "square", "rsqrt", "sign", "floor", "ceil", "round",
              "sigmoid", "tanh", "clone", "isnan", "isinf", "isfinite", "logical_not"]:
    _u(_name)
_u("relu", method=False)
op("gelu", lambda m, x, **k: m.F.gelu(x, **k), unary(FLOATS, approximate=st.sampled_from(["none", "tanh"])))
op("leaky_relu", lambda m, x, **k: m.F.leaky_relu(x, **k),
   unary(FLOATS, negative_slope=st.sampled_from([0.01, 0.2, -1.0, 0.0])))
op("softmax", lambda m, x, **k: m.softmax(x, **k), softmax_draw, method=True)
op("log_softmax", lambda m, x, **k: m.log_softmax(x, **k), softmax_draw, method=True)
op("round(decimals)", lambda m, x, **k: m.round(x, **k), unary(FLOATS, decimals=st.sampled_from([0, 1, 2, -1])))

for _name in ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
              "logical_and", "logical_or", "logical_xor"]:
    op(_name, with_other(lambda m, _n=_name: getattr(m, _n)),
       binary(ANY, other_scalar=_name not in ("maximum", "minimum", "logical_and", "logical_or", "logical_xor")),
       method=True)
op("add(alpha)", with_other(lambda m: m.add), binary(NUMERIC, alpha=st.sampled_from([2, -1, 0.5])))
op("sub(alpha)", with_other(lambda m: m.sub), binary(NUMERIC, alpha=st.sampled_from([2, -1, 0.5])))
op("div(rounding_mode)", with_other(lambda m: m.div), div_draw, method=True)
op("allclose", lambda m, a, b: m.allclose(a, b), binary(FLOATS, other_scalar=False))
op("equal", lambda m, a, b: m.equal(a, b), binary(ANY, other_scalar=False))
for _sym in ["+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "==", "!=", "<", ">=", "<=", ">"]:
    op(f"a {_sym} b", binop(_sym), binary(ANY))
for _sym in ["-", "/", "//", "%", "**", "+", "*"]:
    op(f"scalar {_sym} a", rbinop(_sym), lambda d: ([tensor(d, NUMERIC)], {"other": scalar(d, ("int", "float"))}))
op("~a", lambda m, x: ~x, unary(INTS_BOOL))
op("-a", lambda m, x: -x, unary(NUMERIC))
op("a @ b", lambda m, a, b: a @ b, matmul_draw)
op("where", lambda m, c, a, b: m.where(c, a, b), ternary_where)
op("where(scalar)", lambda m, c, a, other: m.where(c, a, other),
   lambda d: ([values(d, shape(d), BOOL), tensor(d, NUMERIC)], {"other": scalar(d, ("int", "float"))}))
op("clamp", clamp_call, clamp_draw)
op("clip", lambda m, x, **k: m.clip(x, **k), unary(NUMERIC, min=st.sampled_from([-1, 0.5]), max=st.sampled_from([1, 0.0])))
op("pow", pow_call, pow_draw)

op("sum", lambda m, x, **k: m.sum(x, **k), reduction(ANY), method=True)
op("mean", lambda m, x, **k: m.mean(x, **k), reduction(FLOATS + (I64,)), method=True)
op("prod", lambda m, x, **k: m.prod(x, **k), reduction(NUMERIC, tuples=False, empty=False), method=True)
for _name in ["amax", "amin"]:
    op(_name, lambda m, x, _n=_name, **k: getattr(m, _n)(x, **k), reduction(NUMERIC), method=True)
for _name in ["max", "min"]:
    op(_name, lambda m, x, _n=_name, **k: getattr(m, _n)(x, **k),
       reduction(NUMERIC + (BOOL,), tuples=False, empty=False), method=True)
    op(f"{_name}(other)", with_other(lambda m, _n=_name: getattr(m, _n)), binary(FLOATS, other_scalar=False))
for _name in ["argmax", "argmin"]:
    op(_name, lambda m, x, _n=_name, **k: getattr(m, _n)(x, **k), reduction(NUMERIC, tuples=False, empty=False),
       method=True)
for _name in ["all", "any"]:
    op(_name, lambda m, x, _n=_name, **k: getattr(m, _n)(x, **k), reduction(ANY, empty=False), method=True)
op("var", lambda m, x, **k: m.var(x, **k), var_draw, method=True)
op("std", lambda m, x, **k: m.std(x, **k), var_draw, method=True)
op("norm", lambda m, x, **k: m.norm(x, **k), norm_draw, method=True)

op("reshape", lambda m, x, shape: m.reshape(x, shape), reshape_draw)
op("Tensor.reshape(*shape)", lambda m, x, shape: x.reshape(*shape) if shape else x.reshape(shape), reshape_draw)
op("Tensor.view", lambda m, x, shape: x.view(shape), reshape_draw)
op("flatten", lambda m, x, **k: m.flatten(x, **k), flatten_draw, method=True)
op("unflatten", lambda m, x, **k: m.unflatten(x, **k), unflatten_draw, method=True)
op("squeeze", lambda m, x, **k: m.squeeze(x, **k), squeeze_draw, method=True)
op("unsqueeze", lambda m, x, **k: m.unsqueeze(x, **k), unsqueeze_draw, method=True)
op("transpose", lambda m, x, **k: m.transpose(x, **k), transpose_draw, method=True)
op("swapaxes", lambda m, x, dim0, dim1: m.swapaxes(x, dim0, dim1), transpose_draw)
op("permute", lambda m, x, dims: m.permute(x, dims), permute_draw)
op("Tensor.permute(*dims)", lambda m, x, dims: x.permute(*dims), permute_draw)
op("Tensor.expand", lambda m, x, sizes: x.expand(*sizes) if sizes else x.expand(sizes), expand_draw)
op("broadcast_to", lambda m, x, sizes: m.broadcast_to(x, sizes), expand_draw)
op("t", lambda m, x: m.t(x), t_draw, method=True)
op("Tensor.T", lambda m, x: x.T, unary(ANY, 0, 3))
op("Tensor.mT", lambda m, x: x.mT, unary(FLOATS, 0, 3))

op("view_as", lambda m, a, b: a.view_as(b), as_draw)
op("reshape_as", lambda m, a, b: a.reshape_as(b), as_draw)
op("expand_as", lambda m, a, b: a.expand_as(b), as_draw)
op("cat", lambda m, *xs, dim: m.cat(list(xs), dim=dim), cat_draw)
op("stack", lambda m, *xs, dim: m.stack(list(xs), dim=dim), stack_draw)
op("split", lambda m, x, **k: m.split(x, **k), split_draw)
op("Tensor.split", lambda m, x, split_size_or_sections, dim: x.split(split_size_or_sections, dim), split_draw)
op("chunk", lambda m, x, **k: m.chunk(x, **k), chunk_draw, method=True)
op("unbind", lambda m, x, **k: m.unbind(x, **k), unbind_draw, method=True)

op("getitem(basic)", lambda m, x, index: x[index], getitem_draw)
op("getitem(int array)", intindex_call, intindex_draw)
op("getitem(bool mask)", lambda m, x, mask: x[mask], mask_draw)
op("setitem(bool mask)", lambda m, x, mask: (lambda y: (y.__setitem__(mask, 0.5), y)[1])(x * 1), mask_draw)
op("setitem(basic)", lambda m, x, index: (lambda y: (y.__setitem__(index, 2.0), y)[1])(x * 1), getitem_draw)
op("gather", lambda m, x, idx, dim: m.gather(x, dim, idx), gather_draw, method=False)
op("Tensor.gather", lambda m, x, idx, dim: x.gather(dim, idx), gather_draw)
op("index_select", lambda m, x, idx, dim: m.index_select(x, dim, idx), index_select_draw)
op("masked_fill", lambda m, x, mask, value: m.masked_fill(x, mask, value), masked_fill_draw)
op("Tensor.masked_fill", lambda m, x, mask, value: x.masked_fill(mask, value), masked_fill_draw)

op("cross_entropy", loss_call("cross_entropy"), ce_draw, nograd=(2,))
op("nll_loss", loss_call("nll_loss"), lambda d: ce_draw(d, nll=True), nograd=(2,))
op("mse_loss", lambda m, a, b, **k: m.F.mse_loss(a, b, **k), mse_draw)
op("binary_cross_entropy", bce_call("binary_cross_entropy"), bce_draw, nograd=(2,))
op("binary_cross_entropy_with_logits", bce_call("binary_cross_entropy_with_logits"), lambda d: bce_draw(d, logits=True), nograd=(2, 3))
op("l1_loss", lambda m, a, b, **k: m.F.l1_loss(a, b, **k), pair_loss_draw)
op("smooth_l1_loss", lambda m, a, b, **k: m.F.smooth_l1_loss(a, b, **k), lambda d: pair_loss_draw(d, "beta"))
op("huber_loss", lambda m, a, b, **k: m.F.huber_loss(a, b, **k), lambda d: pair_loss_draw(d, "delta"))
op("kl_div", lambda m, a, b, **k: m.F.kl_div(a, b, **k), kl_draw)
op("cosine_embedding_loss", lambda m, *xs, **k: m.F.cosine_embedding_loss(*xs, **k), lambda d: ranking_draw(d, cosine=True), nograd=(2,))
op("margin_ranking_loss", lambda m, *xs, **k: m.F.margin_ranking_loss(*xs, **k), ranking_draw)

op("matmul", lambda m, a, b: m.matmul(a, b), matmul_draw, method=True)
op("mm", lambda m, a, b: m.mm(a, b), lambda d: matmul_draw(d, [((2, 3), (3, 4)), ((0, 2), (2, 1)), ((2, 3), (3,)), ((2, 3), (2, 3)), ((1, 1), (1, 5))]),
   method=True)
op("bmm", lambda m, a, b: m.bmm(a, b), lambda d: matmul_draw(d, [((2, 2, 3), (2, 3, 1)), ((1, 2, 3), (2, 3, 4)), ((0, 1, 2), (0, 2, 3)), ((2, 3), (3, 4))]),
   method=True)
op("dot", lambda m, a, b: m.dot(a, b), lambda d: matmul_draw(d, [((3,), (3,)), ((0,), (0,)), ((3,), (2,)), ((1, 3), (3,))]),
   method=True)
op("outer", lambda m, a, b: m.outer(a, b), lambda d: matmul_draw(d, [((3,), (2,)), ((0,), (2,)), ((3,), (1, 2)), ((1,), (1,))]),
   method=True)
op("linear", lambda m, *xs: m.F.linear(*xs), linear_draw)

EINSUM_CASES = [("ij,jk->ik", (2, 3), (3, 4)), ("bij,bjk->bik", (2, 2, 3), (2, 3, 1)), ("ii->i", (3, 3)),
                ("ii", (2, 2)), ("...ij,...jk", (2, 1, 3), (3, 2)), ("i,j->ij", (3,), (0,)), ("ij->", (2, 3)),
                ("bn,anm,bm->ba", (2, 3), (1, 3, 2), (2, 2)), ("i,i->i", (1,), (3,)), ("ij->ji", (0, 2)),
                ("ij,jk", (2, 3), (2, 3)), ("ii", (2, 3))]


def einsum_draw(d):
    """An equation of the table (the last two malformed: both raise), its operands of one dtype."""
    equation, *shapes = d(st.sampled_from(EINSUM_CASES))
    dt = dtype(d, (F64, F64, F32, I64))
    return [values(d, s, dt) for s in shapes], kwargs(equation=equation)


op("einsum", lambda m, *xs, equation: m.einsum(equation, *xs), einsum_draw)

op("inplace", inplace_call, inplace_draw, leaf_ok=True)
op("inplace then reuse", inplace_twice_call, inplace_draw, leaf_ok=True)

op("Tensor.contiguous().is_contiguous()", lambda m, x: x.contiguous().is_contiguous(), unary(FLOATS, 2, 3))
op("tensor(ndarray)", lambda m, x: m.tensor(x.detach().numpy()), unary(ANY))
op("Tensor.to(dtype)", lambda m, x, dtype: x.to(getattr(m, dtype)),
   unary(ANY, dtype=st.sampled_from([F64, F32, I64, I32, BOOL])))
op("Tensor.float", lambda m, x: x.float(), unary(ANY))
op("Tensor.long", lambda m, x: x.long(), unary(FLOATS + (BOOL,)))
op("nonzero", lambda m, x: m.nonzero(x), unary(ANY))
op("where(condition)", lambda m, x: m.where(x), unary((BOOL,)))
op("tensor(numpy scalar)", lambda m, x: m.tensor(x.detach().numpy()[()]), unary(ANY, 0, 0))

for _name in ["sin", "cos", "tan", "atan", "sinh", "cosh", "expm1", "log1p", "log2", "log10"]:
    _u(_name, NUMERIC)
op("atan2", lambda m, a, b: m.atan2(a, b), binary(NUMERIC, other_scalar=False), method=True)
for _name in ["tril", "triu"]:
    op(_name, lambda m, x, _n=_name, **k: getattr(m, _n)(x, **k),
       unary(ANY, 0, 3, diagonal=st.sampled_from([0, 1, -1, 3, -4])), method=True)
op("diag", lambda m, x, **k: m.diag(x, **k), unary(NUMERIC, 1, 2, diagonal=st.sampled_from([0, 1, -1, 3])),
   method=True)
op("trace", lambda m, x: m.trace(x), unary(NUMERIC, 1, 3), method=True)
op("narrow", lambda m, x, **k: m.narrow(x, **k), narrow_draw, method=True)
op("flip", lambda m, x, dims: m.flip(x, dims), flip_draw)
op("Tensor.flip", lambda m, x, dims: x.flip(dims), flip_draw)
op("roll", lambda m, x, **k: m.roll(x, **k), roll_draw, method=True)
op("Tensor.repeat", lambda m, x, sizes: x.repeat(*sizes), repeat_draw)
op("tile", lambda m, x, sizes: m.tile(x, sizes), repeat_draw, method=False)
op("repeat_interleave", lambda m, x, *r, **k: m.repeat_interleave(x, *r, **k), repeat_interleave_draw)
op("sort", lambda m, x, **k: m.sort(x, **k), sort_draw(descending=st.booleans()), method=True)
op("argsort", lambda m, x, **k: m.argsort(x, **k), sort_draw(descending=st.booleans()), method=True)
op("topk", lambda m, x, k, **kw: m.topk(x, k, **kw), topk_draw, method=True)
op("cumsum", lambda m, x, **k: m.cumsum(x, **k), scan_draw, method=True)
op("cumprod", lambda m, x, **k: m.cumprod(x, **k), scan_draw, method=True)
op("logsumexp", lambda m, x, **k: m.logsumexp(x, **k),
   reduction(NUMERIC, none=False, empty=False), method=True)
op("lerp", lambda m, a, b, w=None, weight=None: m.lerp(a, b, weight if w is None else w), lerp_draw, method=True)
op("addmm", lambda m, *xs, **k: m.addmm(*xs, **k), addmm_draw, method=True)
_u("erf", NUMERIC)
op("erfinv", lambda m, x: m.erfinv(x), lambda d: ([np.tanh(tensor(d, NUMERIC))], {}), method=True)

# ------------------------------------------------------------------ layers' ops: convolutions, pooling, norms,
# resizing, padding and the further activations (issue 12)


def no_nan(draw):
    """``draw`` with NaNs made 0: PyTorch's own kernels disagree on them (its vectorized loop and
    its scalar tail treat a NaN on a branch's edge differently), so no answer is the spec."""
    def wrapped(d):
        arrays, kw = draw(d)
        return [np.where(np.isnan(a), 0, a) if a.dtype.kind == "f" else a for a in arrays], kw
    return wrapped


def finite(draw):
    """``draw`` with every non-finite value made 0: for the ops built on matrix products
    (convolutions, adaptive pooling, bags) or fused affine steps (group and instance norm),
    where an inf or NaN meets a zero or an opposite inf in another order than in PyTorch's
    kernels and gives NaN (0 * inf, inf - inf) in other places."""
    def wrapped(d):
        arrays, kw = draw(d)
        return [np.where(np.isfinite(a), a, 0) if a.dtype.kind == "f" else a for a in arrays], kw
    return wrapped


def _f(name):
    return lambda m, *xs, _n=name, **k: getattr(m.F, _n)(*xs, **k)


for _name, _kw in [("silu", {}), ("mish", {}), ("logsigmoid", {}), ("softsign", {}), ("tanhshrink", {}),
                   ("hardsigmoid", {}), ("hardswish", {}), ("relu6", {}), ("selu", {}),
                   ("elu", {"alpha": st.sampled_from([1.0, 0.5, 2.0])}), ("celu", {"alpha": st.sampled_from([1.0, 0.5])}),
                   ("softplus", {"beta": st.sampled_from([1.0, 2.0, 0.5]), "threshold": st.sampled_from([20.0, 1.0])}),
                   ("hardtanh", {"min_val": st.sampled_from([-1.0, -0.5, 0.0]), "max_val": st.sampled_from([1.0, 2.0])})]:
    op(f"F.{_name}", _f(_name), no_nan(unary(FLOATS, **_kw)))
op("F.softmin", lambda m, x, **k: m.F.softmin(x, **k), lambda d: ([tensor(d, FLOATS, 1, 3)], {"dim": a_dim(d, 1)}))


def glu_draw(d):
    s = list(nonempty(d, 1, 3))
    axis = d(st.integers(-len(s), len(s) - 1))
    s[axis] *= 2 if d(st.integers(0, 9)) else 1  # now and then an odd size: both raise
    return [values(d, tuple(s), dtype(d, FLOATS))], {"dim": axis}


def prelu_draw(d):
    s = nonempty(d, 1, 4)
    channels = s[1] if len(s) >= 2 else 1
    return [values(d, s, F64), values(d, (d(st.sampled_from([1, channels])),), F64)], {}


op("F.glu", _f("glu"), glu_draw)
op("F.prelu", _f("prelu"), prelu_draw)


def conv_draw(d, dims, transposed=False):
    """(N, C, *spatial) input and weight with drawn stride, padding, dilation and groups."""
    groups = d(st.sampled_from([1, 1, 2]))
    c, o = groups * d(st.integers(1, 2)), groups * d(st.integers(1, 2))
    kernel = tuple(d(st.integers(1, 3)) for _ in range(dims))
    spatial = tuple(d(st.integers(1, 6)) for _ in range(dims))
    lead = (d(st.integers(1, 2)),) if d(st.integers(0, 4)) else ()  # now and then unbatched
    stride, dilation = d(st.sampled_from([1, 1, 2])), d(st.sampled_from([1, 1, 2]))
    kw = {"stride": stride, "dilation": dilation, "groups": groups}
    weight = (c, o // groups) + kernel if transposed else (o, c // groups) + kernel
    arrays = [values(d, lead + (c,) + spatial, F64), values(d, weight, F64)]
    if d(st.booleans()):
        arrays.append(values(d, (o,), F64))
    if transposed:
        kw["padding"] = d(st.integers(0, 1))
        kw["output_padding"] = d(st.integers(0, max(stride, dilation) - 1))
    else:
        kw["padding"] = d(st.sampled_from([0, 1, 2, "same", "valid"] if stride == 1 else [0, 1]))
    return arrays, kw


op("F.conv2d", _f("conv2d"), finite(lambda d: conv_draw(d, 2)))
op("F.conv1d", _f("conv1d"), finite(lambda d: conv_draw(d, 1)))
op("F.conv_transpose2d", _f("conv_transpose2d"), finite(lambda d: conv_draw(d, 2, transposed=True)))
op("F.conv_transpose1d", _f("conv_transpose1d"), finite(lambda d: conv_draw(d, 1, transposed=True)))


def pool1d_draw(d, avg=False):
    x = values(d, nonempty(d, 2, 3)[:-1] + (d(st.integers(2, 7)),), F64)
    k = d(st.integers(1, 3))
    kw = {"kernel_size": k, "stride": d(st.sampled_from([None, 1, 2])), "padding": d(st.integers(0, k // 2)),
          "ceil_mode": d(st.booleans())}
    if not avg:
        kw["dilation"] = d(st.sampled_from([1, 2]))
    return [x], kw


op("F.max_pool1d", _f("max_pool1d"), no_nan(pool1d_draw))
op("F.avg_pool1d", _f("avg_pool1d"), lambda d: pool1d_draw(d, avg=True))
op("F.adaptive_avg_pool1d", _f("adaptive_avg_pool1d"),
   finite(lambda d: ([values(d, nonempty(d, 2, 3)[:-1] + (d(st.integers(1, 7)),), F64)],
                     {"output_size": d(st.integers(1, 4))})))
op("F.adaptive_max_pool2d", _f("adaptive_max_pool2d"),
   no_nan(lambda d: ([values(d, (2, 3, d(st.integers(1, 6)), d(st.integers(1, 6))), F64)],
                     {"output_size": (d(st.integers(1, 4)), d(st.sampled_from([None, 1, 2, 5])))})))


def norm_groups_draw(d):
    groups = d(st.integers(1, 3))
    s = (d(st.integers(1, 3)), groups * d(st.integers(1, 2))) + nonempty(d, 0, 2)
    arrays = [values(d, s, F64)]
    if d(st.booleans()):
        arrays += [values(d, (s[1],), F64), values(d, (s[1],), F64)]
    return arrays, {"num_groups": groups if d(st.integers(0, 9)) else groups + 1}


def group_norm_call(m, x, weight=None, bias=None, num_groups=1):
    return m.F.group_norm(x, num_groups, weight, bias)


op("F.group_norm", group_norm_call, finite(norm_groups_draw))
op("F.instance_norm", lambda m, x, *wb: m.F.instance_norm(x, None, None, *(wb or (None, None))),
   finite(lambda d: ([values(d, (2, 3, d(st.integers(2, 4)), d(st.integers(1, 3))), F64)]
                     + ([values(d, (3,), F64), values(d, (3,), F64)] if d(st.booleans()) else []), {})))


def interpolate_draw(d):
    mode = d(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear"]))
    spatial = 1 if mode == "linear" else 2 if mode == "bilinear" else d(st.integers(1, 2))
    x = values(d, (2, 2) + tuple(d(st.integers(1, 5)) for _ in range(spatial)), dtype(d, FLOATS))
    kw = {"mode": mode}
    if d(st.booleans()):
        kw["size"] = d(st.integers(1, 7))
    else:
        kw["scale_factor"] = d(st.sampled_from([2, 0.5, 1.5, 2.25, 3]))
    if mode in ("linear", "bilinear"):
        kw["align_corners"] = d(st.sampled_from([False, True]))
    return [x], kw


op("F.interpolate", _f("interpolate"), no_nan(interpolate_draw))


def pad_draw(d):
    mode = d(st.sampled_from(["constant", "constant", "reflect", "replicate", "circular"]))
    k = d(st.integers(1, 2))
    x = values(d, nonempty(d, k + 1, k + 2) if mode != "constant" else nonempty(d, k, 3), dtype(d, FLOATS))
    low = -1 if mode == "constant" else 0
    kw = {"pad": tuple(d(st.integers(low, 2)) for _ in range(2 * k)), "mode": mode}
    if mode == "constant" and d(st.booleans()):
        kw["value"] = d(st.sampled_from([0.5, -2.0]))
    return [x], kw


op("F.pad", lambda m, x, pad, **k: m.F.pad(x, pad, **k), pad_draw)
op("F.pixel_shuffle", _f("pixel_shuffle"),
   lambda d: ([values(d, nonempty(d, 0, 1) + (4 * d(st.integers(1, 2)) + (0 if d(st.integers(0, 9)) else 1),
                                             d(st.integers(1, 3)), d(st.integers(1, 3))), F64)], {"upscale_factor": 2}))
op("F.pixel_unshuffle", _f("pixel_unshuffle"),
   lambda d: ([values(d, nonempty(d, 0, 1) + (d(st.integers(1, 2)), 2 * d(st.integers(1, 2)), 2 * d(st.integers(1, 2))),
                      F64)], {"downscale_factor": 2}))


def two_vectors_draw(d):
    a, b = broadcast_pair(d, 1, 3)
    return [values(d, a, F64), values(d, b, F64)], {}


op("F.normalize", _f("normalize"), lambda d: ([tensor(d, FLOATS, 1, 3)], {"dim": a_dim(d, 1, bad=False),
                                                                          "p": d(st.sampled_from([2.0, 1.0, 3.0]))}))
op("F.cosine_similarity", lambda m, a, b: m.F.cosine_similarity(a, b, dim=-1), two_vectors_draw)
op("F.pairwise_distance", _f("pairwise_distance"), two_vectors_draw)


def embedding_bag_draw(d):
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    mode = d(st.sampled_from(["sum", "mean", "max"]))
    weight = values(d, (6, d(st.integers(1, 3))), F64)
    if d(st.booleans()):
        return [rng.integers(0, 6, (d(st.integers(1, 3)), d(st.integers(1, 4)))), weight], {"mode": mode}
    n = d(st.integers(0, 6))
    offsets = np.sort(rng.integers(0, n + 1, d(st.integers(1, 3))))
    offsets[0] = 0
    return [rng.integers(0, 6, n), weight, offsets], {"mode": mode}


op("F.embedding_bag", lambda m, i, w, *o, **k: m.F.embedding_bag(i, w, *o, **k), finite(embedding_bag_draw))

# ------------------------------------------------------------------ writing at indices, searching, grids (issue 12)


def _index_along(d, rng, shape, axis, n, unique):
    """An int64 index of ``shape`` with values in [0, n) along ``axis`` (distinct along it when
    ``unique``: scatter's result for repeated places is unspecified), now and then out of range."""
    if unique:
        idx = np.argsort(rng.random(shape[:axis] + (max(n, 1),) + shape[axis + 1:]), axis=axis)
        idx = np.take(idx, range(shape[axis]), axis=axis)
    else:
        idx = rng.integers(0, max(n, 1), shape)
    if idx.size and d(st.integers(0, 9)) == 0:
        idx.flat[0] = d(st.sampled_from([-1, n]))  # out of range: PyTorch raises
    return idx.astype(I64)


def scatter_draw(unique, with_value=False):
    def draw(d):
        kind = dtype(d, FLOATS)
        x = values(d, nonempty(d, 1, 3), kind)
        axis = a_dim(d, x.ndim, bad=False)
        n = x.shape[axis]
        ishape = tuple(d(st.integers(0, min(n, 3))) if k == axis % x.ndim else d(st.integers(0, s))
                       for k, s in enumerate(x.shape))
        rng = np.random.default_rng(d(st.integers(0, 99)))
        idx = _index_along(d, rng, ishape, axis % x.ndim, n, unique)
        if with_value:
            return [x, idx], {"dim": axis, "value": d(st.sampled_from([0.0, -1.5, 2]))}
        src = values(d, ishape, kind)  # a larger src: PyTorch's backward fails (tested in test_layout_gaps_torch)
        return [x, idx, src], {"dim": axis}
    return draw


def index_add_draw(d):
    kind = dtype(d, FLOATS)
    x = values(d, nonempty(d, 1, 3), kind)
    axis = a_dim(d, x.ndim, bad=False)
    rng = np.random.default_rng(d(st.integers(0, 99)))
    idx = _index_along(d, rng, (d(st.integers(0, 4)),), 0, x.shape[axis], unique=False)
    source = values(d, x.shape[:axis % x.ndim] + (len(idx),) + x.shape[axis % x.ndim + 1:], kind)
    return [x, idx, source], {"dim": axis, "alpha": d(st.sampled_from([1, 2.5, -1]))}


def index_fill_draw(d):
    x = tensor(d, NUMERIC, 1, 3, shp=nonempty(d, 1, 3))
    axis = a_dim(d, x.ndim, bad=False)
    rng = np.random.default_rng(d(st.integers(0, 99)))
    idx = _index_along(d, rng, (d(st.integers(0, 4)),), 0, x.shape[axis], unique=False)
    return [x, idx], {"dim": axis, "value": d(st.sampled_from([0, -1.5, 2.0]))}


def masked_select_draw(d):
    sa, sb = broadcast_pair(d)
    return [values(d, sa, dtype(d, NUMERIC)), values(d, sb, BOOL)], {}


def cdist_draw(d):
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    batch, m = shape(d, 0, 1), d(st.integers(0, 3))
    x1 = rng.standard_normal(batch + (d(st.integers(0, 3)), m))
    x2 = rng.standard_normal(batch + (d(st.integers(0, 3)), m if d(st.integers(0, 9)) else m + 1))
    if x1.size and x2.size and d(st.booleans()):
        x2[..., 0, :] = x1[..., 0, :]  # a zero distance: its gradient is 0, not NaN
    return [x1, x2], {"p": d(st.sampled_from([2.0, 1.0, 3.0, 0.0, float("inf"), 0.5]))}


def meshgrid_draw(d):
    arrays = [values(d, shape(d, 0, 1), F64) for _ in range(d(st.integers(1, 3)))]
    return arrays, {"indexing": d(st.sampled_from(["ij", "xy"]))}


def _nan_as_zero(a):
    return np.where(np.isnan(a), 0, a).astype(a.dtype)


def searchsorted_draw(d):
    kind = dtype(d, (F64, F64, I64))
    lead = shape(d, 0, 1)
    # sorted boundaries without NaN: PyTorch's binary search reads a NaN boundary as below everything
    seq = np.sort(_nan_as_zero(values(d, lead + (d(st.integers(1, 4)),), kind)), axis=-1)
    vals = values(d, (lead + (d(st.integers(0, 3)),)) if lead and d(st.integers(0, 5)) else shape(d, 0, 2), kind)
    return [seq, vals], kwargs(right=d(st.booleans()), out_int32=d(st.booleans()))


def bucketize_draw(d):
    kind = dtype(d, (F64, F64, I64))
    bounds = np.sort(_nan_as_zero(values(d, (d(st.integers(0, 4)),), kind)))
    return [values(d, shape(d), kind), bounds], kwargs(right=d(st.booleans()), out_int32=d(st.booleans()))


op("scatter", lambda m, x, idx, src, dim: m.scatter(x, dim, idx, src), scatter_draw(unique=True))
op("Tensor.scatter(value)", lambda m, x, idx, dim, value: x.scatter(dim, idx, value=value),
   scatter_draw(unique=True, with_value=True))
op("scatter_add", lambda m, x, idx, src, dim: m.scatter_add(x, dim, idx, src), scatter_draw(unique=False))
op("Tensor.scatter_add", lambda m, x, idx, src, dim: x.scatter_add(dim, idx, src), scatter_draw(unique=False))
op("index_add", lambda m, x, idx, src, dim, alpha: m.index_add(x, dim, idx, src, alpha=alpha), index_add_draw)
op("Tensor.index_fill", lambda m, x, idx, dim, value: x.index_fill(dim, idx, value), index_fill_draw)
op("masked_select", lambda m, x, mask: m.masked_select(x, mask), masked_select_draw, method=True)
op("cdist", lambda m, a, b, p: m.cdist(a, b, p=p), cdist_draw)
op("meshgrid", lambda m, *xs, indexing: m.meshgrid(*xs, indexing=indexing), meshgrid_draw)
op("searchsorted", lambda m, s, v, **k: m.searchsorted(s, v, **k), searchsorted_draw)
op("bucketize", lambda m, x, b, **k: m.bucketize(x, b, **k), bucketize_draw)
INPLACE["index_fill_"] = lambda v, o: v.index_fill_(0, v.new_zeros(1).long(), -2.0)
INPLACE["scatter_add_"] = lambda v, o: v.scatter_add_(-1, v.new_zeros(v.shape).long(), v * 0 + 1.5)


def scatter_reduce_draw(d):
    arrays, kw = scatter_draw(unique=False)(d)
    x, idx, src = arrays
    # no NaN or inf: which of several equal extremes PyTorch credits is not the spec
    x, src = (np.where(np.isfinite(a), a, 0).astype(a.dtype) for a in (x, src))
    if d(st.integers(0, 3)) == 0:  # integer tensors: 'mean' divides with floor, as PyTorch
        x, src = x.round().astype(I64), src.round().astype(I64)
    return [x, idx, src], dict(kw, reduce=d(st.sampled_from(["sum", "mean", "amax", "amin"])),
                               include_self=d(st.booleans()))


def index_copy_draw(d):
    arrays, kw = index_add_draw(d)
    x, idx, source = arrays
    n = x.shape[kw["dim"]]
    if len(idx) <= n and (idx >= 0).all() and (idx < n).all():  # distinct: repeated slices are unspecified
        idx = np.random.default_rng(len(idx)).permutation(n)[:len(idx)].astype(I64)
        source = source[tuple(slice(None) if k != kw["dim"] % x.ndim else slice(0, len(idx))
                              for k in range(x.ndim))]
    return [x, idx, source], {"dim": kw["dim"]}


op("scatter_reduce", lambda m, x, idx, src, dim, reduce, include_self:
   x.scatter_reduce(dim, idx, src, reduce, include_self=include_self), scatter_reduce_draw)
op("index_copy", lambda m, x, idx, src, dim: m.index_copy(x, dim, idx, src), index_copy_draw)
op("Tensor.index_copy_", lambda m, x, idx, src, dim: (x * 1).index_copy_(dim, idx, src), index_copy_draw)


def addc_draw(d):
    s1, s2 = broadcast_pair(d)
    s3 = d(st.sampled_from([s1, s2, ()]))
    # one floating dtype for the three, as optimizers use them: with mixed dtypes PyTorch promotes
    # the three at once (0-d ones ranking lower) and its backward fails for an integer input
    kinds = [dtype(d, FLOATS)] * 3
    return [values(d, s, k) for s, k in zip((s1, s2, s3), kinds)], kwargs(value=d(st.sampled_from([None, 2, -0.5])))


op("addcmul", lambda m, x, a, b, **k: m.addcmul(x, a, b, **k), addc_draw, method=True)
op("addcdiv", lambda m, x, a, b, **k: m.addcdiv(x, a, b, **k), addc_draw, method=True)
op("reciprocal", lambda m, x: m.reciprocal(x), unary(NUMERIC), method=True)
op("remainder", lambda m, a, b=None, other=None: m.remainder(a, other if b is None else b), binary(NUMERIC),
   method=True)
for _name in ("exp_", "log_", "sqrt_", "abs_", "neg_", "tanh_", "sigmoid_", "reciprocal_"):
    INPLACE[_name] = lambda v, o, _n=_name: getattr(v, _n)()
INPLACE["addcmul_"] = lambda v, o: v.addcmul_(o, o, value=0.5)
INPLACE["addcdiv_"] = lambda v, o: v.addcdiv_(o, o * o + 1, value=-2)


def blocks_draw(d, fold=False):
    kernel = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    kw = {"kernel_size": kernel, "dilation": d(st.sampled_from([1, 2])), "padding": d(st.integers(0, 1)),
          "stride": d(st.sampled_from([1, 2]))}
    image = (d(st.integers(3, 6)), d(st.integers(3, 6)))
    c = d(st.integers(1, 2))
    if not fold:
        return [values(d, (d(st.integers(1, 2)), c) + image, F64)], kw
    count = 1
    for size, k in zip(image, kernel):
        count *= max((size + 2 * kw["padding"] - kw["dilation"] * (k - 1) - 1) // kw["stride"] + 1, 1)
    return [values(d, (d(st.integers(1, 2)), c * kernel[0] * kernel[1], count), F64)], dict(kw, output_size=image)


op("F.unfold", _f("unfold"), blocks_draw)
op("F.fold", _f("fold"), lambda d: blocks_draw(d, fold=True))


def bincount_draw(d):
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, 5, d(st.integers(0, 6)))
    if x.size and d(st.integers(0, 9)) == 0:
        x[0] = -1  # negative: PyTorch raises
    arrays = [x.astype(d(st.sampled_from([I64, I32])))]
    if d(st.booleans()):
        arrays.append(values(d, x.shape, dtype(d, FLOATS)))
    return arrays, kwargs(minlength=d(st.sampled_from([None, 0, 3, 7])))


def unique_draw(d):
    x = values(d, shape(d, 0, 2), dtype(d, (I64, I32, BOOL)))  # no floats: PyTorch marks them as wanting grad
    dim = a_dim(d, x.ndim, bad=False) if x.ndim and d(st.booleans()) else None
    return [x], kwargs(return_inverse=d(st.booleans()), return_counts=d(st.booleans()), dim=dim)


def isclose_draw(d):
    sa, sb = broadcast_pair(d)
    kind = dtype(d, NUMERIC)
    a = values(d, sa, kind)
    b = (a + 1e-9).astype(kind) if sa == sb and d(st.booleans()) else values(d, sb, kind)
    return [a, b], kwargs(equal_nan=d(st.booleans()), atol=d(st.sampled_from([None, 0.1])))


def broadcast_tensors_draw(d):
    sa, sb = broadcast_pair(d)
    return [values(d, sa, F64), values(d, sb, F64)], {}


op("count_nonzero", lambda m, x, **k: m.count_nonzero(x, **k),
   lambda d: ([tensor(d, ANY)], kwargs(dim=d(st.sampled_from([None, 0, -1, (0, -1)])))), method=True)
op("argwhere", lambda m, x: m.argwhere(x), unary(ANY), method=True)
op("bincount", lambda m, x, *w, **k: m.bincount(x, *w, **k), bincount_draw, nograd=(1,))  # no gradient in PyTorch
op("unique", lambda m, x, **k: m.unique(x, **k), unique_draw)
op("isclose", lambda m, a, b, **k: m.isclose(a, b, **k), isclose_draw, method=True)
op("broadcast_tensors", lambda m, a, b: m.broadcast_tensors(a, b), broadcast_tensors_draw)


def sdpa_draw(d):
    """query (..., L, E), key (..., S, E), value (..., S, Ev) of normal values (no infinities:
    PyTorch scales q and k by sqrt(scale) each, distgrad q by scale), then a 2-D bool or float
    mask (the float one with its gradient), or none and causal or not: whether PyTorch combines a mask
    with is_causal depends on the kernel it picks (test_attention_torch covers the 4-D case)."""
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    lead = shape(d, 0, 2, sides=(2, 1, 3))
    L, S, E, Ev = (d(st.integers(1, 4)) for _ in range(4))
    dt = dtype(d, FLOATS)
    arrays = [rng.standard_normal(lead + s).astype(dt) for s in ((L, E), (S, E), (S, Ev))]
    mask = d(st.sampled_from(["none", "bool", "float"]))
    if mask == "bool":
        arrays.append(rng.random((L, S)) < 0.7)
    elif mask == "float":
        arrays.append(rng.standard_normal((L, S)).astype(dt))
    causal = d(st.sampled_from([None, True])) if mask == "none" else None  # PyTorch's choice with both
    return arrays, kwargs(is_causal=causal, scale=d(st.sampled_from([None, 0.5])))


op("F.scaled_dot_product_attention",
   lambda m, q, k, v, *mask, **kw: m.F.scaled_dot_product_attention(q, k, v, *mask, **kw), sdpa_draw)


# ------------------------------------------------------------------ more math, reordering, statistics, linalg
def normal(d, shp, dt=F64):
    """Standard normal values (distinct almost surely: which of tied elements an op picks is
    PyTorch's kernel's choice)."""
    return np.random.default_rng(d(st.integers(0, 2**32 - 1))).standard_normal(shp).astype(dt)


for _name in ("logaddexp", "hypot", "copysign", "xlogy", "fmod"):
    op(_name, lambda m, a, b=None, other=None, _n=_name: getattr(m, _n)(a, other if b is None else b),
       binary(NUMERIC, other_scalar=_name in ("copysign", "xlogy", "fmod")), method=True)
for _name in ("deg2rad", "rad2deg", "frac", "trunc", "fix", "signbit", "sinc", "nan_to_num"):
    op(_name, lambda m, x, _n=_name: getattr(m, _n)(x), unary(NUMERIC), method=True)


def no_negative_zero(d):
    """unary(NUMERIC) with -0.0 as 0.0: the sign of logit's infinite gradient there differs
    between PyTorch's scalar and vectorized kernels."""
    [x], kw = unary(NUMERIC)(d)
    return [np.where(x == 0, np.zeros_like(x), x)], kw


op("logit", lambda m, x: m.logit(x), no_negative_zero, method=True)
op("logit(eps)", lambda m, x, eps: m.logit(x, eps), lambda d: ([np.random.default_rng(
    d(st.integers(0, 99))).random(shape(d))], {"eps": d(st.sampled_from([0.1, 0.3]))}))
op("nan_to_num(values)", lambda m, x, **k: m.nan_to_num(x, **k),
   unary(FLOATS, nan=st.sampled_from([0.0, 2.5]), posinf=st.sampled_from([None, 9.0]),
         neginf=st.sampled_from([None, -7.0])))
op("clamp_min", lambda m, x, **k: m.clamp_min(x, **k), lambda d: ([tensor(d, FLOATS)], {"min": 0.25}), method=True)
op("clamp_max", lambda m, x, **k: m.clamp_max(x, **k), lambda d: ([tensor(d, FLOATS)], {"max": -0.25}), method=True)


def diff_draw(d):
    x = tensor(d, ANY, 1, 3)
    dim = a_dim(d, x.ndim)
    kw = kwargs(n=d(st.sampled_from([None, 1, 2, 3])), dim=dim)
    if x.dtype.kind == "f" and -x.ndim <= dim < x.ndim and d(st.booleans()):
        extra = list(x.shape)
        extra[dim] = 2
        return [x, values(d, tuple(extra), x.dtype.name)], kw
    return [x], kw


op("diff", lambda m, x, *pre, **k: m.diff(x, prepend=pre[0] if pre else None, **k), diff_draw)
op("Tensor.diff", lambda m, x, *pre, **k: x.diff(prepend=pre[0] if pre else None, **k), diff_draw)


def movedim_draw(d):
    x = tensor(d, FLOATS, 1, 4)
    k = d(st.integers(1, x.ndim))
    src = list(d(st.permutations(range(x.ndim))))[:k]
    dst = list(d(st.permutations(range(x.ndim))))[:k]
    return [x], ({"source": src[0], "destination": dst[0]} if k == 1 else {"source": tuple(src), "destination": tuple(dst)})


op("movedim", lambda m, x, **k: m.movedim(x, **k), movedim_draw, method=True)
op("moveaxis", lambda m, x, **k: m.moveaxis(x, **k), movedim_draw)


def two_dims_draw(d, ndim):
    a, b = d(st.permutations(range(ndim)))[:2]
    return a - ndim if d(st.booleans()) else a, b


def diagonal_draw(d):
    x = tensor(d, NUMERIC, 2, 4)
    dim1, dim2 = two_dims_draw(d, x.ndim)
    return [x], {"offset": d(st.sampled_from([0, 1, -1, 2, -5])), "dim1": dim1, "dim2": dim2}


def diag_embed_draw(d):
    x = tensor(d, NUMERIC, 1, 3)
    dim1, dim2 = two_dims_draw(d, x.ndim + 1)
    return [x], {"offset": d(st.sampled_from([0, 1, -1, 2])), "dim1": dim1, "dim2": dim2}


op("diagonal", lambda m, x, **k: m.diagonal(x, **k), diagonal_draw, method=True)
op("diag_embed", lambda m, x, **k: m.diag_embed(x, **k), diag_embed_draw, method=True)


def take_along_dim_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    rng = np.random.default_rng(d(st.integers(0, 99)))
    if d(st.booleans()):
        return [x, rng.integers(0, max(x.size, 1), d(st.integers(0, 4))) if x.size else np.zeros(0, I64)], {}
    dim = a_dim(d, x.ndim, bad=False)
    ishape = tuple(d(st.sampled_from([1, s])) if j != dim % x.ndim else d(st.integers(0, 3))
                   for j, s in enumerate(x.shape))
    n = x.shape[dim]
    idx = rng.integers(0, n, ishape) if n else np.zeros(ishape, dtype=np.int64)
    return [x, idx.astype(I64)], {"dim": dim}


# without a dim, contiguous: PyTorch's flattening of a transposed input raises a view error there
op("take_along_dim", lambda m, x, i, **k: m.take_along_dim(x if k else x.contiguous(), i, **k),
   take_along_dim_draw)
op("Tensor.take_along_dim", lambda m, x, i, **k: (x if k else x.contiguous()).take_along_dim(i, **k),
   take_along_dim_draw)
op("rot90", lambda m, x, **k: m.rot90(x, **k), lambda d: (
    [tensor(d, NUMERIC, 2, 3)], {"k": d(st.integers(-5, 5)), "dims": d(st.sampled_from([(0, 1), (1, 0), (-1, 0)]))}),
   method=True)


def unfold_draw(d):
    x = tensor(d, FLOATS, 1, 3)
    dim = a_dim(d, x.ndim, bad=False)
    return [x], {"dimension": dim, "size": d(st.integers(0, x.shape[dim])), "step": d(st.integers(1, 3))}


op("Tensor.unfold", lambda m, x, **k: x.unfold(**k), unfold_draw)


def tensordot_draw(d):
    a = normal(d, shape(d, 0, 3, sides=(2, 3, 1)))
    n = d(st.integers(0, a.ndim))
    b = normal(d, a.shape[a.ndim - n:] + shape(d, 0, 2, sides=(2, 3)))
    return [a, b], {"dims": n}


op("tensordot", lambda m, a, b, **k: m.tensordot(a, b, **k), tensordot_draw)
# floating and contiguous only: PyTorch's kron raises on some transposed inputs (a view error)
op("kron", lambda m, a, b: m.kron(a.contiguous(), b.contiguous()), lambda d: (
    [tensor(d, FLOATS, 0, 2), tensor(d, FLOATS, 0, 3)], {}))
op("Tensor.kron", lambda m, a, b: a.contiguous().kron(b.contiguous()), lambda d: (
    [tensor(d, FLOATS, 0, 2), tensor(d, FLOATS, 0, 3)], {}))


def cross_draw(d):
    lead = shape(d, 0, 2, sides=(2, 1, 3))
    dim = d(st.integers(0, len(lead)))
    s = lead[:dim] + (3,) + lead[dim:]
    t = dtype(d, FLOATS)
    return [values(d, s, t), values(d, s, t)], {"dim": dim - len(s) if d(st.booleans()) else dim}


op("cross", lambda m, a, b, **k: m.cross(a, b, **k), cross_draw, method=True)
op("linalg.cross", lambda m, a, b, **k: m.linalg.cross(a, b, **k), cross_draw)


def median_draw(d):
    x = normal(d, nonempty(d, 0, 3), dtype(d, FLOATS))
    if x.size and d(st.integers(0, 3)) == 0:
        x.flat[0] = np.nan
    dim = a_dim(d, x.ndim) if d(st.booleans()) else None
    return [x], kwargs(dim=dim, keepdim=d(st.sampled_from([None, True])) if dim is not None else None)


def dim_only(call):
    """call(m, x, **k) with keepdim dropped when there is no dim (not a PyTorch signature)."""
    return lambda m, x, **k: call(m, x, **({} if "dim" not in k else k))


op("median", dim_only(lambda m, x, **k: m.median(x, **k)), median_draw, method=True)
op("nanmedian", dim_only(lambda m, x, **k: m.nanmedian(x, **k)), median_draw, method=True)


def quantile_draw(d):
    x = normal(d, nonempty(d, 0, 3), dtype(d, FLOATS))
    if x.size and d(st.integers(0, 3)) == 0:
        x.flat[0] = np.nan
    kw = kwargs(dim=a_dim(d, x.ndim) if d(st.booleans()) else None, keepdim=d(st.sampled_from([None, True])),
                interpolation=d(st.sampled_from([None, "lower", "higher", "midpoint", "nearest"])))
    if d(st.booleans()):
        return [x], dict(kw, q=d(st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0])))
    return [x, np.array(d(st.sampled_from([[0.1], [0.0, 0.5, 1.0], [0.3, 0.75]])), dtype=x.dtype)], kw


op("quantile", lambda m, x, *qs, q=None, **k: m.quantile(x, qs[0] if qs else q, **k), quantile_draw, method=True)
op("nanquantile", lambda m, x, *qs, q=None, **k: m.nanquantile(x, qs[0] if qs else q, **k), quantile_draw,
   method=True)
op("aminmax", lambda m, x, **k: tuple(m.aminmax(x, **k)), lambda d: (
    [normal(d, nonempty(d, 0, 3), dtype(d, FLOATS))], kwargs(dim=d(st.sampled_from([None, 0, -1])),
                                                             keepdim=d(st.sampled_from([None, True])))))
def finite_var_draw(d):
    """var_draw without infinities: PyTorch's one-pass std_mean makes the mean NaN beside an inf."""
    arrays, kw = var_draw(d)
    return [np.where(np.isinf(a), 3.0, a).astype(a.dtype) for a in arrays], kw


op("std_mean", lambda m, x, **k: m.std_mean(x, **k), finite_var_draw)
op("var_mean", lambda m, x, **k: m.var_mean(x, **k), finite_var_draw)


def nan_reduction_draw(d):
    x = tensor(d, FLOATS)
    if x.size and d(st.booleans()):
        x.flat[0] = np.nan
    return [x], kwargs(dim=dims(d, x.ndim, empty=False), keepdim=d(st.sampled_from([None, True])))


op("nansum", dim_only(lambda m, x, **k: m.nansum(x, **k)), nan_reduction_draw, method=True)
op("nanmean", dim_only(lambda m, x, **k: m.nanmean(x, **k)), nan_reduction_draw, method=True)
op("cummax", lambda m, x, **k: tuple(m.cummax(x, **k)), scan_draw, method=True)
op("cummin", lambda m, x, **k: tuple(m.cummin(x, **k)), scan_draw, method=True)
op("logcumsumexp", lambda m, x, **k: m.logcumsumexp(x, **k), lambda d: (
    [normal(d, shape(d), dtype(d, FLOATS))], {"dim": a_dim(d, 1)}), method=True)


def matrices(d, square=True, batch=True):
    n = d(st.integers(1, 3))
    s = shape(d, 0, 1 if batch else 0, sides=(2, 1)) + (n, n if square else d(st.integers(1, 3)))
    a = normal(d, s, dtype(d, FLOATS))
    return a + 3 * np.eye(s[-2], s[-1], dtype=a.dtype) if square else a  # well conditioned


op("linalg.inv", lambda m, a: m.linalg.inv(a), lambda d: ([matrices(d)], {}))
op("linalg.det", lambda m, a: m.linalg.det(a), lambda d: ([matrices(d)], {}))
op("linalg.solve", lambda m, a, b: m.linalg.solve(a, b), lambda d: (
    [a := matrices(d, batch=False), normal(d, a.shape[-1:] + shape(d, 0, 1, sides=(2, 1)), a.dtype)], {}))
op("linalg.vector_norm", lambda m, x, **k: m.linalg.vector_norm(x, **k), lambda d: (
    [normal(d, nonempty(d, 1, 3))], kwargs(ord=d(st.sampled_from([None, 1, 3, float("inf")])),
                                           dim=d(st.sampled_from([None, 0, -1])))))
op("linalg.matrix_norm", lambda m, x, **k: m.linalg.matrix_norm(x, **k), lambda d: (
    [matrices(d, square=False)], kwargs(ord=d(st.sampled_from([None, "fro", 1, -1, float("inf"), -float("inf")])),
                                        keepdim=d(st.sampled_from([None, True])))))
op("linalg.norm", lambda m, x, **k: m.linalg.norm(x, **k), lambda d: (
    [normal(d, nonempty(d, 1, 2))], kwargs(ord=d(st.sampled_from([None, 2, 1])))))


def mode_draw(d):
    """Small integers as floats (ties are the point), along a drawn dim."""
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    x = rng.integers(-2, 3, nonempty(d, 0, 3)).astype(dtype(d, (F64, F32, I64)))
    return [x], kwargs(dim=a_dim(d, x.ndim, bad=False), keepdim=d(st.sampled_from([None, True])))


op("mode", lambda m, x, **k: tuple(m.mode(x, **k)), mode_draw, method=True)
op("renorm", lambda m, x, **k: m.renorm(x, **k), lambda d: (
    [normal(d, nonempty(d, 1, 3), dtype(d, FLOATS))], {"p": d(st.sampled_from([1, 2, 3.5])),
                                                       "dim": d(st.sampled_from([0, -1])),
                                                       "maxnorm": d(st.sampled_from([0.5, 1.0, 100.0]))}),
   method=True)
op("Tensor.clamp_min_", lambda m, x: (x * 1).clamp_min_(0.25), unary(FLOATS))
op("Tensor.nan_to_num_", lambda m, x: (x * 1).nan_to_num_(nan=1.5), unary(FLOATS))


def spd_draw(d):
    m = matrices(d)
    return [m @ np.swapaxes(m, -1, -2)], kwargs(upper=d(st.sampled_from([None, True])))  # symmetric positive-definite


op("linalg.cholesky", lambda m, a, **k: m.linalg.cholesky(a, **k), spd_draw)
