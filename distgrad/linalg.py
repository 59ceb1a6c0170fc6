"""distgrad.linalg, torch.linalg's place: norms, svdvals, inv, det, solve, cholesky and cross,
with gradients.

Norms are compositions of the reductions; inv, det and solve are Functions over xp.linalg
with the textbook derivatives (for inv(A): -inv(A)^T g inv(A)^T).
"""
import math

import numpy

from .errors import OpRuntimeError
from .function import Function
from .ops._util import binary_operands, normalize_dim, require_floating
from .ops.products import cross as _cross
from .ops.reduction import amax, amin, norm as _norm, sum as _sum


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm of x's elements (all, or along ``dim``) as a vector: sum(|x|^ord)^(1/ord)."""
    if dtype is not None:
        x = x.to(dtype)
    if isinstance(ord, str):
        raise OpRuntimeError("linalg.vector_norm", f"ord must be a number, got {ord!r}; use matrix_norm for 'fro'")
    return _norm(x, ord, dim, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The Frobenius norm, or the induced 1 / inf norms (max column / row sums of |A|) and
    their -1 / -inf minima, over the two dims ``dim``."""
    if dtype is not None:
        A = A.to(dtype)
    require_floating("linalg.matrix_norm", A)
    if A.ndim < 2:
        raise OpRuntimeError("linalg.matrix_norm", f"expected a matrix or a batch of them, got shape {tuple(A.shape)}")
    rows, cols = normalize_dim(tuple(dim), A.ndim, "linalg.matrix_norm")
    if rows == cols:
        raise OpRuntimeError("linalg.matrix_norm", f"dims must differ, got {tuple(dim)}")
    if ord == "fro":
        return _norm(A, 2, (rows, cols), keepdim)
    if ord == "nuc" or ord in (2, -2):  # of the singular values: their sum, max or min
        s = svdvals(A.movedim((rows, cols), (-2, -1)))
        out = s.sum(-1) if ord == "nuc" else (amax if ord == 2 else amin)(s, -1)
        return out.unsqueeze(min(rows, cols)).unsqueeze(max(rows, cols)) if keepdim else out
    if ord not in (1, -1, math.inf, -math.inf):
        raise OpRuntimeError("linalg.matrix_norm", f"ord must be 'fro', 'nuc', 2, -2, 1, -1, inf or -inf, got {ord!r}")
    # 1: sum over rows (per column), then max over columns; inf: the transpose
    summed, other = (rows, cols) if abs(ord) == 1 else (cols, rows)
    sums = _sum(A.abs(), summed, keepdim=True)
    pick = amax if ord > 0 else amin
    out = pick(sums, other, keepdim=True)
    return out if keepdim else out.squeeze((rows, cols) if rows < cols else (cols, rows))


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a matrix norm for a string ord, or 2 dims with ord given; otherwise
    the vector 2-norm (or ord-norm) of all elements or of ``dim``."""
    if isinstance(ord, str) or (ord is not None and isinstance(dim, (tuple, list)) and len(dim) == 2):
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if ord is not None and dim is None and A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if ord is not None and dim is None and A.ndim != 1:
        raise OpRuntimeError("linalg.norm", f"ord={ord!r} without dim needs a 1-d or 2-d input, got shape "
                                            f"{tuple(A.shape)}")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


class SingularValues(Function):
    def forward(self, xp, a):
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        self.saved = (u, vh)
        return s

    def backward(self, xp, g):
        # d s_i / dA = u_i v_i^T (for distinct singular values, as PyTorch assumes)
        u, vh = self.saved
        return ((u * g[..., None, :]) @ vh,)


def svdvals(A):
    """The singular values of A (..., m, n), largest first."""
    require_floating("linalg.svdvals", A)
    if A.ndim < 2:
        raise OpRuntimeError("linalg.svdvals", f"expected a matrix or a batch of them, got shape {tuple(A.shape)}")
    return SingularValues.apply(A)


def _square(op, A):
    require_floating(op, A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise OpRuntimeError(op, f"expected square matrices (..., n, n), got shape {tuple(A.shape)}")


def _mT(xp, a):
    return xp.swapaxes(a, -1, -2)


class Inv(Function):
    saves_output = True

    def forward(self, xp, a):
        try:
            self.saved = xp.linalg.inv(a)
        except numpy.linalg.LinAlgError as e:  # a singular matrix (CuPy raises NumPy's error too)
            raise OpRuntimeError("linalg.inv", f"the input is not invertible: {e}") from None
        return self.saved

    def backward(self, xp, g):
        inv_t = _mT(xp, self.saved)
        return (-(inv_t @ g @ inv_t),)


def inv(A):
    _square("linalg.inv", A)
    return Inv.apply(A)


class Det(Function):
    saves_inputs = saves_output = True

    def forward(self, xp, a):
        out = xp.linalg.det(a)
        self.saved = (a, out)
        return out

    def backward(self, xp, g):
        a, out = self.saved
        # d det / dA = det * inv(A)^T (the cofactor matrix); a singular A gives no inverse
        return ((g * out)[..., None, None] * _mT(xp, xp.linalg.inv(a)),)


def det(A):
    _square("linalg.det", A)
    return Det.apply(A)


class Solve(Function):
    saves_inputs = saves_output = True

    def forward(self, xp, a, b):
        try:
            x = xp.linalg.solve(a, b)
        except numpy.linalg.LinAlgError as e:
            raise OpRuntimeError("linalg.solve", f"the matrix is not invertible: {e}") from None
        self.saved = (a, x)
        return x

    def backward(self, xp, g):
        a, x = self.saved
        na, nb = self.needs_grad
        gb = xp.linalg.solve(_mT(xp, a), g)  # A^-T g
        ga = -(gb @ _mT(xp, x)) if na else None
        return ga, gb if nb else None  # A and B come expanded to one batch shape


def solve(A, B, *, left=True):
    """X with A X = B (B a vector when it is 1-d or one dim short of A's batch of matrices)."""
    if not left:
        raise OpRuntimeError("linalg.solve", "left=False is not supported; solve the transposed system")
    _square("linalg.solve", A)
    A, B = binary_operands(A, B)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if vector:
        B = B.unsqueeze(-1)
    if B.shape[-2] != A.shape[-1]:
        raise OpRuntimeError("linalg.solve", f"A of shape {tuple(A.shape)} and B of shape {tuple(B.shape)} "
                                             "do not match")
    batch = _broadcast_batch(A, B)
    A = A.expand(*batch, *A.shape[-2:]) if tuple(A.shape[:-2]) != batch else A
    B = B.expand(*batch, *B.shape[-2:]) if tuple(B.shape[:-2]) != batch else B
    X = Solve.apply(A, B)
    return X.squeeze(-1) if vector else X


def _broadcast_batch(A, B):
    a, b = tuple(A.shape[:-2]), tuple(B.shape[:-2])
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        raise OpRuntimeError("linalg.solve", f"batch shapes {a} and {b} do not broadcast")
    return tuple(max(x, y) for x, y in zip(a, b))


class Cholesky(Function):
    saves_output = True

    def forward(self, xp, a):
        try:
            self.saved = xp.linalg.cholesky(a)
        except numpy.linalg.LinAlgError as e:  # not positive-definite
            raise OpRuntimeError("linalg.cholesky", f"the input is not positive-definite: {e}") from None
        if xp.isnan(self.saved).any():  # CuPy returns NaNs instead of raising
            raise OpRuntimeError("linalg.cholesky", "the input is not positive-definite")
        return self.saved

    def backward(self, xp, g):
        # for A = L L^T: phi = tril(L^T g) with its diagonal halved; gA = L^-T phi L^-1, symmetrized
        L = self.saved
        phi = xp.tril(_mT(xp, L) @ g)
        diagonal = xp.arange(L.shape[-1])
        phi[..., diagonal, diagonal] *= 0.5
        inv_l = xp.linalg.inv(L)
        grad = _mT(xp, inv_l) @ phi @ inv_l
        return ((grad + _mT(xp, grad)) * 0.5,)


def cholesky(A, *, upper=False):
    """L, lower triangular, with A = L L^T for a symmetric positive-definite A (L^T if ``upper``)."""
    _square("linalg.cholesky", A)
    L = Cholesky.apply(A)
    return L.mT if upper else L


def cross(input, other, *, dim=-1):
    return _cross(input, other, dim)


__all__ = ["norm", "vector_norm", "matrix_norm", "svdvals", "inv", "det", "solve", "cholesky", "cross"]
