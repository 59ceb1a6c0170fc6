"""Matrix products with PyTorch's semantics (1-D, 2-D, batched) and the fused linear layer."""
from ..amp import autocast_mode
from ..errors import OpNotImplementedError, OpRuntimeError, OpTypeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import binary_operands, unbroadcast


def _half_on_numpy(xp, a, b=None):
    # Without a generator: this runs for every product (~1 us of the ~10 a small Linear costs).
    return xp.__name__ == "numpy" and (a.dtype == xp.float16 or (b is not None and b.dtype == xp.float16))


def matmul_array(xp, a, b):
    """``a @ b``; float16 on NumPy as a float32 (BLAS) product rounded once to float16: NumPy's
    own float16 product is a loop without BLAS, ~100x slower, and PyTorch's CPU kernels
    accumulate half products in float32 too."""
    if _half_on_numpy(xp, a, b):
        return xp.matmul(a.astype(xp.float32), b.astype(xp.float32)).astype(xp.result_type(a, b))
    return xp.matmul(a, b)


def _blas_sums(xp, a):
    """Whether sums over ``a``'s axes go faster as products with a vector of ones (BLAS):
    NumPy's reductions run ~2-7x slower (short rows, or columns of a matrix)."""
    return xp.__name__ == "numpy" and a.dtype in (xp.float32, xp.float64) and a.size


def last_axis_sums(xp, a):
    """``a.sum(axis=-1, keepdims=True)``, as attention's 64-key rows need it."""
    if not _blas_sums(xp, a):
        return a.sum(axis=-1, keepdims=True)
    return (a @ xp.ones(a.shape[-1], a.dtype))[..., None]


def column_sums(xp, a):
    """``a.sum(axis=0)`` of a matrix, as a bias gradient is."""
    if not _blas_sums(xp, a):
        return a.sum(axis=0)
    return xp.ones(a.shape[0], a.dtype) @ a


class MatMul(Function):
    saves_inputs = ((1,), (0,))  # each gradient reads the other input
    op_name = "matmul"

    def forward(self, xp, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise OpRuntimeError("matmul", f"both arguments need at least 1 dimension, got shapes "
                                           f"{tuple(a.shape)} and {tuple(b.shape)}")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise OpRuntimeError("matmul", f"shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                                           f"multiplied ({k_a} != {k_b} in the contracted dimension)")
        self.saved = (a, b)
        return matmul_array(xp, a, b)

    def backward(self, xp, g):
        a, b = self.saved
        # Treat vectors as matrices (a row on the left, a column on the right), then undo it.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:  # first: a vector-vector product's 0-d gradient becomes (1,) then (1, 1)
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(matmul_array(xp, g, xp.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(matmul_array(xp, xp.swapaxes(a2, -1, -2), g), b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Function):
    """y = x @ W.T + b in one node: the hot path of every MLP."""
    saves_inputs = ((1,), (0,), ())  # x's gradient reads W, W's reads x

    def forward(self, xp, x, weight, bias=None):
        if x.shape[-1] != weight.shape[1]:
            raise OpRuntimeError("linear", f"input of shape {tuple(x.shape)} does not match weight of shape "
                                           f"{tuple(weight.shape)} (expected last dimension "
                                           f"{weight.shape[1]})")
        self.saved = (x, weight)
        half = _half_on_numpy(xp, x)
        if half:  # in float32 (BLAS), bias included, rounded once: see matmul_array
            x, weight = x.astype(xp.float32), weight.astype(xp.float32)
            bias = None if bias is None else bias.astype(xp.float32)
        if x.ndim > 2:  # as one 2-D product: NumPy's stacked matmul is ~3x slower (a GEMM per matrix)
            out = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
        else:
            out = x @ weight.T
        if bias is not None:
            out += bias
        return out.astype(xp.float16) if half else out

    def backward(self, xp, g):
        x, weight = self.saved
        needs = self.needs_grad
        shape = x.shape
        if g.ndim != 2:  # (..., out) inputs: every leading axis is a batch axis
            g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        gx = matmul_array(xp, g, weight).reshape(shape) if needs[0] else None
        gw = matmul_array(xp, g.T, x) if needs[1] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (column_sums(xp, g) if needs[2] else None)


def _product(input, other, op, ndim=None):
    """The checked product: two tensors of one dtype (PyTorch does not promote here), of
    ``ndim`` dimensions when given."""
    if not isinstance(input, TensorBase) or not isinstance(other, TensorBase):
        raise OpTypeError(op, f"expected two tensors, got {type(input).__name__} and {type(other).__name__}")
    if ndim is not None and (input.ndim != ndim or other.ndim != ndim):
        raise OpRuntimeError(op, f"expected {ndim}-D tensors, got shapes {tuple(input.shape)} and "
                                 f"{tuple(other.shape)}")
    da, db = input.array.dtype, other.array.dtype
    if da != db:
        raise OpRuntimeError(op, f"expected both operands to have the same dtype, got {da} and {db}; convert "
                                 f"one with .to()")
    if da.kind == "b":
        raise OpNotImplementedError(op, "not implemented for bool tensors; convert them to an integer or "
                                        "floating dtype")
    return MatMul.apply(input, other)


def matmul(input, other):
    if autocast_mode.active:  # matmul-class: in the low dtype under autocast
        input, other = autocast_mode.to_low(input, other)
    return _product(input, other, "matmul")


def mm(input, mat2):
    if autocast_mode.active:  # matmul-class: in the low dtype under autocast
        input, mat2 = autocast_mode.to_low(input, mat2)
    return _product(input, mat2, "mm", 2)


def bmm(input, mat2):
    if autocast_mode.active:  # matmul-class: in the low dtype under autocast
        input, mat2 = autocast_mode.to_low(input, mat2)
    if input.ndim == 3 and mat2.ndim == 3 and input.shape[0] != mat2.shape[0]:
        raise OpRuntimeError("bmm", f"batch sizes differ: shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    if (isinstance(input, TensorBase) and isinstance(mat2, TensorBase)
            and (input.array.size == 0 or mat2.array.size == 0)):
        input, mat2 = binary_operands(input, mat2)  # PyTorch's bmm promotes when an operand is empty
    return _product(input, mat2, "bmm", 3)


def dot(input, other):
    return _product(input, other, "dot", 1)


def outer(input, vec2):
    if input.ndim != 1 or vec2.ndim != 1:
        raise OpRuntimeError("outer", f"expected 1-D tensors, got shapes {tuple(input.shape)} and "
                                      f"{tuple(vec2.shape)}")
    input, vec2 = binary_operands(input, vec2)  # outer promotes, as PyTorch's
    return MatMul.apply(input.unsqueeze(1), vec2.unsqueeze(0))


def linear(input, weight, bias=None):
    if autocast_mode.active:  # matmul-class: in the low dtype under autocast
        input, weight, bias = autocast_mode.to_low(input, weight, bias)
    if input.ndim == 0:
        raise OpRuntimeError("linear", f"the input must have at least 1 dimension (the features), got a 0-d "
                                       f"tensor; weight has shape {tuple(weight.shape)}")
    if not 1 <= weight.array.ndim <= 2:
        raise OpRuntimeError("linear", f"weight must have 1 or 2 dimensions (out_features, in_features), got "
                                       f"shape {tuple(weight.shape)}")
    if input.array.dtype != weight.array.dtype:
        raise OpTypeError("linear", f"input dtype {input.array.dtype} does not match weight dtype "
                                    f"{weight.array.dtype}; convert the input with .to({weight.array.dtype})")
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)
