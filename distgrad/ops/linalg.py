"""Matrix products with PyTorch's semantics (1-D, 2-D, batched) and the fused linear layer."""
from ..errors import OpRuntimeError, OpTypeError
from ..function import Function
from ._util import binary_operands, unbroadcast


class MatMul(Function):
    saves_inputs = True
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
        return a @ b

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
            ga = unbroadcast(g @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Function):
    """y = x @ W.T + b in one node: the hot path of every MLP."""
    saves_inputs = True

    def forward(self, xp, x, weight, bias=None):
        if x.shape[-1] != weight.shape[1]:
            raise OpRuntimeError("linear", f"input of shape {tuple(x.shape)} does not match weight of shape "
                                           f"{tuple(weight.shape)} (expected last dimension "
                                           f"{weight.shape[1]})")
        self.saved = (x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, xp, g):
        x, weight = self.saved
        needs = self.needs_grad
        gx = g @ weight if needs[0] else None
        if g.ndim != 2:  # (..., out) inputs: every leading axis is a batch axis
            g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        gw = g.T @ x if needs[1] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (g.sum(axis=0) if needs[2] else None)


def matmul(input, other):
    return MatMul.apply(*binary_operands(input, other))


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise OpRuntimeError("mm", f"expected 2-D tensors, got shapes {tuple(input.shape)} and "
                                   f"{tuple(mat2.shape)}")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise OpRuntimeError("bmm", f"expected 3-D tensors, got shapes {tuple(input.shape)} and "
                                    f"{tuple(mat2.shape)}")
    return matmul(input, mat2)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise OpRuntimeError("dot", f"expected 1-D tensors, got shapes {tuple(input.shape)} and "
                                    f"{tuple(other.shape)}")
    return matmul(input, other)


def outer(input, vec2):
    return matmul(input.unsqueeze(1), vec2.unsqueeze(0))


def linear(input, weight, bias=None):
    if input.array.dtype != weight.array.dtype:
        raise OpTypeError("linear", f"input dtype {input.array.dtype} does not match weight dtype "
                                    f"{weight.array.dtype}; convert the input with .to({weight.array.dtype})")
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)
